"""The YAML inventory: one validated, immutable model of the cloud being upgraded.

`load_inventory` is the only way in. Every problem is reported as one line naming
the file, the YAML path (`old.database.port`) and what is wrong, all problems at
once, as an `InventoryError` (exit code 2). Secrets are only referenced here
(`password_file`, `password_env`, `option_file`, clouds.yaml); they are read on
demand by `resolve_password`, registered for redaction, and never stored in the
model.
"""

from __future__ import annotations

import ipaddress
import math
import os
import posixpath
import re
import socket
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from sidebyside.errors import InputError, InventoryError
from sidebyside.passwords import read_password
from sidebyside.remote.ssh import check_ssh_options
from sidebyside.services import releases as releases_mod
from sidebyside.services.catalog import SERVICE_ORDER

RELEASE_RE = re.compile(r"^20\d\d\.[12]$")
# Inventory host names are also HAProxy server names, ssh log labels and file names.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# HAProxy's own grammar for proxy (backend) and server names.
HAPROXY_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
# How long a look-up of the database host names may take at load before it is skipped.
_RESOLVE_SECONDS = 3.0
_DURATION_RE = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90s`, `30m`, `1h30m`. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 90s or 1h30m")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("a duration must be a finite number of seconds")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match and any(match.groups()):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return float(hours * 3600 + minutes * 60 + seconds)
    raise ValueError(f"{value!r} is not a duration such as 30m, 90s or 1h30m")


Duration = Annotated[float, BeforeValidator(parse_duration)]
# YAML `true` is not port 1, nor "22" port 22: ports are plain integers.
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]


def _absolute_path(value: Any) -> Any:
    if isinstance(value, str) and not posixpath.isabs(value):
        raise ValueError(f"{value!r} must be an absolute path")
    return value


AbsolutePath = Annotated[str, BeforeValidator(_absolute_path)]


def valid_netns_name(name: str) -> bool:
    """iproute2's rule (a file under /run/netns), without blanks or control characters."""
    return (0 < len(name.encode()) <= 255 and "/" not in name and name not in (".", "..")
            and not any(c.isspace() or not c.isprintable() for c in name))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SshOptions(_Model):
    user: str | None = Field(default=None, min_length=1)
    port: Port | None = None
    identity: str | None = Field(default=None, min_length=1)
    jump: str | None = Field(default=None, min_length=1)
    # Passed to ssh as UserKnownHostsFile: host keys are checked against it.
    known_hosts: str | None = Field(default=None, min_length=1)
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("user", "jump")
    @classmethod
    def _not_an_option(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} is not an ssh user or host")
        return value


class HostModel(_Model):
    address: str = Field(min_length=1)
    transport: Literal["local", "ssh", "netns"] = "ssh"
    ssh: SshOptions = Field(default_factory=SshOptions)
    netns: str | None = None
    sudo: bool = False
    root: str = "/"
    # ssh options that weaken host key checking or run commands need this, per host.
    allow_unsafe_ssh_options: bool = False

    @field_validator("address")
    @classmethod
    def _address_grammar(cls, value: str) -> str:
        if value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError(f"{value!r} is not a host name or address")
        return value

    @field_validator("netns")
    @classmethod
    def _netns_grammar(cls, value: str | None) -> str | None:
        if value is not None and not valid_netns_name(value):
            raise ValueError(f"{value!r} is not a network namespace name (no '/', blanks, "
                             "'.' or '..'; at most 255 bytes)")
        return value

    @model_validator(mode="after")
    def _netns_needs_name(self) -> HostModel:
        if self.transport == "netns" and not self.netns:
            raise ValueError("transport netns needs `netns: <namespace name>`")
        if not self.root.startswith("/"):
            raise ValueError("root must be an absolute path")
        return self


class SecretRef(_Model):
    """Where a password lives; exactly one of the three, or none for passwordless."""

    password_file: str | None = None
    password_env: str | None = None
    option_file: str | None = None
    # Declared only to be refused, field by field: the other fields are still checked
    # (all problems at once), and the value is never kept.
    password: None = Field(default=None, exclude=True, repr=False)

    @field_validator("password", mode="before")
    @classmethod
    def _no_inline_secret(cls, value: Any) -> None:
        raise ValueError("inline passwords are not allowed: use password_file, "
                         "password_env or option_file")

    @field_validator("password_file", "password_env", "option_file")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty: name a file or variable, or leave the key out")
        return value

    @model_validator(mode="after")
    def _at_most_one(self) -> SecretRef:
        given = [n for n in ("password_file", "password_env", "option_file")
                 if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"give only one of password_file, password_env, option_file "
                             f"(got {', '.join(given)})")
        return self


class DatabaseTls(_Model):
    """TLS to a database server: the CA that signs its certificate (always verified),
    and optionally a client certificate and key."""

    ca: str = Field(min_length=1)
    cert: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> DatabaseTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        return self


class DatabaseModel(SecretRef):
    host: str = Field(min_length=1)
    port: Port = 3306
    user: str = "root"
    socket: str | None = None
    tls: DatabaseTls | None = None
    # Every session is bounded: a half-open connection fails instead of hanging.
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 900.0
    write_timeout: Duration = 900.0


class BrokerModel(SecretRef):
    host: str | None = None
    management_url: str | None = None
    user: str = "guest"
    vhost: str = "/"


class ServiceControl(_Model):
    """How one service is stopped and started on a side's controllers, and whether the
    side serves its API.

    `api` (default true): the side serves the service's API, so verification finds its
    endpoint in the side's cloud (the catalog, or a `<type>_endpoint_override` in
    clouds.yaml) and a missing endpoint FAILS verification. `api: false` says the
    service runs database-only on this side (its databases are copied, synced and rolled
    back, no API answers): verification then reports its checks as skipped, each with
    the detail `inventory: <side>.services.<name>.api is false`. Keystone cannot be
    database-only: every verification logs in through it.
    """

    units: list[str] = Field(default_factory=list)
    containers: list[str] = Field(default_factory=list)
    # Commands run on each controller of the side; `{host}` in them becomes the
    # inventory name of the controller (see actions.service_control.control_argvs).
    stop: str | None = None
    start: str | None = None
    status: str | None = None
    bin_dir: str = "/usr/bin"
    # Fast-forward upgrades run each intermediate release's db_sync with that
    # release's code: where it is installed on the new controller.
    release_bin_dirs: dict[str, str] = Field(default_factory=dict)
    # `<service>-status upgrade check` failures the operator reviewed and accepts
    # (by check name); logged on every run, never silently.
    accept_check_failures: list[str] = Field(default_factory=list)
    # a YAML boolean, not 0 or "false": the inventory says it in so many words
    api: Annotated[bool, Strict()] = True
    # Where a dashboard (horizon), which no keystone catalog lists, answers on this
    # side's first controller directly: http://10.0.0.12/ (its login is verified there)
    url: str | None = None

    def bin_dir_for(self, release: str) -> str:
        return self.release_bin_dirs.get(release, self.bin_dir)

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ServiceControl:
        kinds = [k for k, v in (("units", self.units), ("containers", self.containers),
                                ("stop/start", self.stop or self.start)) if v]
        if len(kinds) != 1:
            raise ValueError("give exactly one of units, containers or stop/start commands"
                             + (f" (got {', '.join(kinds)})" if kinds else ""))
        if (self.stop is None) != (self.start is None):
            raise ValueError("stop and start commands go together")
        return self


class SideModel(_Model):
    controllers: list[str] = Field(min_length=1)
    database: DatabaseModel
    cloud: str = Field(min_length=1)
    broker: BrokerModel | None = None
    services: dict[str, ServiceControl] = Field(default_factory=dict)
    # New side only: new controller -> the old controller whose configuration it takes
    # over. Empty means by position (new.controllers[i] <- old.controllers[i]).
    counterparts: dict[str, str] = Field(default_factory=dict)


class BackendModel(_Model):
    backend: str = Field(min_length=1)
    old: list[str] = Field(min_length=1)
    new: list[str] = Field(min_length=1)

    @field_validator("backend")
    @classmethod
    def _haproxy_name(cls, value: str) -> str:
        if not HAPROXY_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not an HAProxy backend name (letters, digits, "
                             "'-', '_', '.', ':')")
        return value


class HaproxyNodeModel(_Model):
    host: str
    socket: AbsolutePath = "/run/haproxy/admin.sock"


class WriteFreezeModel(_Model):
    """Cutover's read-only window: while the final copy and the db_syncs run, HAProxy
    refuses writes (503 + Retry-After) and the old servers keep answering reads.

    `map` is the HAProxy map file (on every node) that the sbs rules of haproxy.cfg read
    (see ha/haproxy.cfg.j2); sbs adds a backend to it through the runtime API and writes
    the file too, so a reload keeps the freeze. Keystone's token issue (POST
    /v3/auth/tokens) stays open when `allow_token_issue`: fernet tokens are not stored,
    so a successful login writes nothing unless [security_compliance] lockout or
    inactivity tracking is on (pre-flight blocks then). A FAILED password login always
    writes keystone's local_user.failed_auth_count: sbs proves the old databases
    unchanged before it switches, so such a write stops the cutover before any switch
    rather than being lost. Off by default: logins wait for the window to end, tokens
    already issued keep working for reads.
    """

    map: AbsolutePath = Field(min_length=1)
    allow_token_issue: bool = False


class HaproxyModel(_Model):
    nodes: list[HaproxyNodeModel] = Field(min_length=1)
    state_file: AbsolutePath | None = None
    write_freeze: WriteFreezeModel | None = None
    backends: dict[str, BackendModel] = Field(default_factory=dict)


class KeepalivedModel(_Model):
    instance: str = Field(min_length=1)
    vip: str
    old: list[str] = Field(min_length=1)
    new: list[str] = Field(min_length=1)
    track_file: AbsolutePath | None = None

    @field_validator("instance")
    @classmethod
    def _instance_name(cls, value: str) -> str:
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError(f"{value!r} is not a vrrp_instance name")
        return value

    @field_validator("vip")
    @classmethod
    def _address_with_prefix(cls, value: str) -> str:
        try:
            ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an address or address/prefix such as "
                             "10.0.0.10/24") from None
        return value


class HaModel(_Model):
    haproxy: HaproxyModel | None = None
    keepalived: KeepalivedModel | None = None
    vip_cloud: str | None = None
    # The dashboard (horizon) through the VIP, as users reach it: https://cloud.example/
    dashboard_url: str | None = None

    @model_validator(mode="after")
    def _something_to_switch(self) -> HaModel:
        if self.haproxy is None and self.keepalived is None:
            raise ValueError("ha needs haproxy or keepalived (or both)")
        return self


class AnsibleDeploy(_Model):
    playbook: str
    inventory: str
    limit: str | None = None
    extra_vars: dict[str, Any] = Field(default_factory=dict)


class DeployModel(_Model):
    ansible: AnsibleDeploy | None = None
    command: str | None = None
    timeout: Duration = 3600.0

    @model_validator(mode="after")
    def _one_kind(self) -> DeployModel:
        if (self.ansible is None) == (self.command is None):
            raise ValueError("deploy needs exactly one of ansible or command")
        return self


class ComputeNodeModel(_Model):
    """One compute node (a hypervisor host): it stays on the old release through the
    cutover and follows the control plane to the new side's bus; `sbs computes upgrade`
    upgrades it afterwards.

    `services`: how each of its services (nova-compute, the neutron agents that run
    there) is stopped, started and checked, as on controllers. `configs`: the files
    whose oslo.messaging transport URLs follow the control plane's bus (every URL of
    the old side's vhost in them moves, nothing else is edited). `nova_host`: the name
    nova-compute registers as (`[DEFAULT] host`, the `host` of nova's services table);
    the inventory name by default."""

    services: dict[str, ServiceControl] = Field(min_length=1)
    configs: list[AbsolutePath] = Field(default_factory=lambda: ["/etc/nova/nova.conf"])
    nova_host: str | None = Field(default=None, min_length=1)


class ComputesModel(_Model):
    """The compute nodes, by inventory host name, moved `batch_size` at a time; each must
    register with the control plane it moves to within `register_timeout`.

    `upgrade`: the operator's automation that upgrades one node in place (`sbs computes
    upgrade`), as `deploy` is for the new controllers: an ansible playbook (run with
    `--limit <node>` unless `limit` says otherwise, the node in `sbs_compute_node`) or a
    command (the node in SBS_COMPUTE_NODE)."""

    nodes: dict[str, ComputeNodeModel] = Field(min_length=1)
    batch_size: Annotated[int, Field(ge=1)] = 1
    register_timeout: Duration = 180.0
    upgrade: DeployModel | None = None

    def nova_host(self, name: str) -> str:
        return self.nodes[name].nova_host or name


class WindowModel(_Model):
    """The cutover window and every wait of a run. The one source of these numbers: the
    run's waits (traffic actions, ssh) and `sbs plan`'s estimate both read them here."""

    max_downtime: Duration
    # requests still running on the old servers to finish (HAProxy drain, write freeze)
    drain_timeout: Duration = 120.0
    # the old services' message queues to empty before they are stopped
    queue_timeout: Duration = 120.0
    # the VIP to move to the other side
    vip_timeout: Duration = 30.0
    # one stop or start command of one service on one host
    service_timeout: Annotated[Duration, Field(gt=0)] = 300.0
    # ssh: ConnectTimeout, and ServerAliveInterval (a dead peer is noticed after three)
    ssh_connect_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    ssh_server_alive_interval: Annotated[Duration, Field(gt=0)] = 15.0


class ReleaseModel(_Model):
    from_: str = Field(alias="from")
    to: str
    via: list[str] = Field(default_factory=list)

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _release_name(cls, value: Any) -> str:
        text = str(value)
        if not RELEASE_RE.match(text):
            raise ValueError(f"{value!r} is not a release such as 2025.1 (quote it in YAML)")
        return text

    @field_validator("via", mode="before")
    @classmethod
    def _via_names(cls, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValueError("via is a list of releases, e.g. [\"2025.1\"]")
        for item in value:
            if not RELEASE_RE.match(str(item)):
                raise ValueError(f"{item!r} is not a release such as 2025.1")
        return [str(v) for v in value]

    @property
    def path(self) -> list[str]:
        """Every release the databases pass through, after the old one."""
        return [*self.via, self.to]


class Inventory(_Model):
    environment: str
    release: ReleaseModel
    services: list[str] = Field(min_length=1)
    hosts: dict[str, HostModel] = Field(min_length=1)
    old: SideModel
    new: SideModel
    ha: HaModel
    clouds_yaml: str | None = None
    host_map: dict[str, str] = Field(default_factory=dict)
    deploy: DeployModel | None = None
    computes: ComputesModel | None = None
    window: WindowModel = Field(default_factory=lambda: WindowModel(max_downtime=1800.0))
    source: str = Field(default="<memory>", exclude=True)

    @field_validator("environment")
    @classmethod
    def _environment_name(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", value):
            raise ValueError("use lowercase letters, digits, - and _ only")
        return value

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in SERVICE_ORDER:
                raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICE_ORDER)}")
        if len(set(value)) != len(value):
            raise ValueError("a service is listed twice")
        return value

    def side(self, name: str) -> SideModel:
        if name not in ("old", "new"):
            raise ValueError(f"side must be old or new, not {name!r}")
        return self.old if name == "old" else self.new

    @property
    def ordered_services(self) -> list[str]:
        """The inventory's services in the one order upgrades must follow."""
        return [s for s in SERVICE_ORDER if s in self.services]


def normal_address(address: str) -> str:
    """An address or name as written, in one spelling: case, brackets, a trailing dot and
    the many ways of writing one IP address do not matter."""
    text = address.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _resolved(names: list[str]) -> dict[str, set[str]]:
    """Each name's addresses (its own spelling included). Names that do not resolve in
    time keep only their spelling: a failed look-up is not an error at load."""
    found: dict[str, set[str]] = {}
    for name in names:
        normal = normal_address(name)
        found[name] = {normal}
        if normal in _LOOPBACK_NAMES:
            found[name] |= {"127.0.0.1", "::1"}

    # A look-up still running after the budget writes only into its own set, which is
    # then never read: what this returns cannot change under the caller.
    looked_up: dict[str, set[str]] = {name: set() for name in names}

    def look_up(name: str) -> None:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        looked_up[name].update(normal_address(str(info[4][0])) for info in infos)

    threads = {name: threading.Thread(target=look_up, args=(name,), daemon=True)
               for name in names}
    for thread in threads.values():
        thread.start()
    for name, thread in threads.items():
        thread.join(_RESOLVE_SECONDS)
        if not thread.is_alive():
            found[name] |= looked_up[name]
    return found


def _same_database_server(old: DatabaseModel, new: DatabaseModel) -> str | None:
    """Why the two database entries are one server as far as names can tell, or None.
    (The server's own @@server_uuid decides at run time; this catches aliases early.)"""
    if old.socket and new.socket:
        if posixpath.normpath(old.socket) == posixpath.normpath(new.socket):
            return f"both use the socket {old.socket}"
        return None
    if old.socket or new.socket or old.port != new.port:
        return None
    addresses = _resolved([old.host, new.host])
    shared = sorted(addresses[old.host] & addresses[new.host])
    if shared:
        return (f"{new.host}:{new.port} is {old.host}:{old.port} "
                f"(both are {shared[0]}:{old.port})")
    return None


def _host_key(model: HostModel) -> tuple[str, ...]:
    """What makes two inventory hosts the same machine (and place on it)."""
    root = posixpath.normpath(model.root)
    if model.transport == "netns":
        return ("netns", model.netns or "", root)
    if model.transport == "local":
        return ("local", normal_address(model.address), root)
    return ("ssh", normal_address(model.address), str(model.ssh.port or 22), root)


def _duplicates(items: list[str]) -> list[str]:
    seen: set[str] = set()
    twice: list[str] = []
    for item in items:
        if item in seen and item not in twice:
            twice.append(item)
        seen.add(item)
    return twice


def _host_problems(inv: Inventory) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    first_with: dict[tuple[str, ...], str] = {}
    for name, model in inv.hosts.items():
        if not NAME_RE.match(name):
            problems.append((f"hosts.{name}", f"{name!r} is not a host name (letters, "
                             "digits, '-', '_', '.'; starting with a letter or digit; at "
                             "most 63 characters)"))
        key = _host_key(model)
        if key in first_with:
            problems.append((f"hosts.{name}.address", f"host {name!r} is host "
                             f"{first_with[key]!r} again ({model.address}): one machine, "
                             "one inventory name"))
        else:
            first_with[key] = name
        for option, value in model.ssh.options.items():
            try:
                check_ssh_options({option: value},
                                  allow_unsafe=model.allow_unsafe_ssh_options)
            except InputError as exc:
                problems.append((f"hosts.{name}.ssh.options.{option}", exc.message))
    return problems


def _semantic_problems(inv: Inventory) -> list[tuple[str, str]]:
    """Cross-field checks pydantic cannot express field by field."""
    problems: list[tuple[str, str]] = _host_problems(inv)
    hosts = set(inv.hosts)

    def no_repeats(path: str, names: list[str], what: str) -> None:
        for name in _duplicates(names):
            problems.append((path, f"{what} {name!r} is listed twice"))

    def need_host(path: str, name: str) -> None:
        if name not in hosts:
            problems.append((path, f"host {name!r} is not defined under hosts"))

    for side_name in ("old", "new"):
        side = inv.side(side_name)
        for i, host in enumerate(side.controllers):
            need_host(f"{side_name}.controllers[{i}]", host)
        no_repeats(f"{side_name}.controllers", side.controllers, "controller")
        for svc, control in side.services.items():
            if svc not in inv.services:
                problems.append((f"{side_name}.services.{svc}",
                                 f"service {svc!r} is not in the top-level services list"))
            if svc == "keystone" and not control.api:
                problems.append((f"{side_name}.services.keystone.api",
                                 "keystone cannot be database-only: every verification "
                                 "logs in through its API"))
        for svc in inv.services:
            if svc not in side.services:
                problems.append((f"{side_name}.services",
                                 f"no stop/start control given for service {svc!r}"))
    if inv.old.counterparts:
        problems.append(("old.counterparts", "counterparts belong to the new side only"))
    for new_host, old_host in inv.new.counterparts.items():
        if new_host not in inv.new.controllers:
            problems.append((f"new.counterparts.{new_host}",
                             f"{new_host!r} is not one of new.controllers"))
        if old_host not in inv.old.controllers:
            problems.append((f"new.counterparts.{new_host}",
                             f"{old_host!r} is not one of old.controllers"))
    # (H6) without a counterpart, a new controller's config would be some other host's
    # (config.counterparts): refused here, before anything is changed
    unmatched = [n for n in inv.new.controllers[len(inv.old.controllers):]
                 if n not in inv.new.counterparts]
    if unmatched:
        problems.append(("new.counterparts", f"no old controller to take the configuration "
                         f"of {', '.join(unmatched)} from: name one for each (new -> old)"))
    both = sorted(set(inv.old.controllers) & set(inv.new.controllers))
    for name in both:
        problems.append(("new.controllers", f"host {name!r} is on both the old and the new side"))
    if inv.old.cloud == inv.new.cloud:
        problems.append(("new.cloud", "old and new sides must use different clouds.yaml clouds"))
    if inv.ha.vip_cloud is not None and inv.ha.vip_cloud == inv.old.cloud:
        problems.append(("ha.vip_cloud", f"{inv.ha.vip_cloud!r} is the old side's cloud: "
                         "verification through the VIP needs the cloud that goes through "
                         "the VIP"))
    same = _same_database_server(inv.old.database, inv.new.database)
    if same:
        problems.append(("new.database", f"the new database server is the old one ({same}): "
                         "side-by-side needs a separate server"))

    releases = [inv.release.from_, *inv.release.path]
    if releases != sorted(releases) or len(set(releases)) != len(releases):
        problems.append(("release", f"releases must strictly increase: {' -> '.join(releases)}"))
    else:
        for a, b in releases_mod.unsupported_hops(releases):
            via = releases_mod.suggest_via(a, b)
            problems.append(("release.via" if inv.release.via else "release.to",
                             f"{a} -> {b} is not an upgrade upstream supports; "
                             f"go through via: [{', '.join(repr(v) for v in via)}]"))

    if inv.ha.haproxy:
        for i, node in enumerate(inv.ha.haproxy.nodes):
            need_host(f"ha.haproxy.nodes[{i}].host", node.host)
        no_repeats("ha.haproxy.nodes", [n.host for n in inv.ha.haproxy.nodes], "node")
        for svc, backend in inv.ha.haproxy.backends.items():
            for side_name in ("old", "new"):
                servers = getattr(backend, side_name)
                for i, server in enumerate(servers):
                    if not HAPROXY_NAME_RE.match(server):
                        problems.append((f"ha.haproxy.backends.{svc}.{side_name}[{i}]",
                                         f"{server!r} is not an HAProxy server name "
                                         "(letters, digits, '-', '_', '.', ':')"))
                no_repeats(f"ha.haproxy.backends.{svc}.{side_name}", servers, "server")
            for host in sorted(set(backend.old) & set(backend.new)):
                problems.append((f"ha.haproxy.backends.{svc}.new",
                                 f"server {host!r} is in both old and new of the backend"))
        no_repeats("ha.haproxy.backends", [b.backend for b in inv.ha.haproxy.backends.values()],
                   "backend")
        for svc in inv.ha.haproxy.backends:
            if svc not in inv.services:
                problems.append((f"ha.haproxy.backends.{svc}",
                                 f"service {svc!r} is not in the top-level services list"))
        for svc in inv.services:
            if svc != "horizon" and svc not in inv.ha.haproxy.backends and not inv.ha.keepalived:
                problems.append(("ha.haproxy.backends",
                                 f"no backend given for service {svc!r}"))
    if inv.ha.keepalived:
        for side_name in ("old", "new"):
            for i, host in enumerate(getattr(inv.ha.keepalived, side_name)):
                need_host(f"ha.keepalived.{side_name}[{i}]", host)
            no_repeats(f"ha.keepalived.{side_name}", getattr(inv.ha.keepalived, side_name),
                       "host")
        for host in sorted(set(inv.ha.keepalived.old) & set(inv.ha.keepalived.new)):
            problems.append(("ha.keepalived.new", f"host {host!r} is on both sides of the VIP"))
    if inv.old.broker and inv.old.broker.host:
        need_host("old.broker.host", inv.old.broker.host)
    if inv.computes:
        controllers = set(inv.old.controllers) | set(inv.new.controllers)
        for name in inv.computes.nodes:
            need_host(f"computes.nodes.{name}", name)
            if name in controllers:
                problems.append((f"computes.nodes.{name}", f"host {name!r} is a controller: "
                                 "a compute node is no side's controller"))
    return problems


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item == "from_":
            parts.append(".from")
        elif str(item).startswith(("function-", "tagged-union")):
            continue
        else:
            parts.append(f".{item}")
    return "".join(parts).lstrip(".")


def _describe(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def parse_inventory(data: Any, source: str = "<memory>") -> Inventory:
    """Validate already-parsed YAML. Raises InventoryError listing every problem."""
    if not isinstance(data, dict):
        raise InventoryError(source, [("", "the inventory must be a YAML mapping")])
    try:
        inv = Inventory.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems = [(_loc_to_path(e["loc"]), _describe(dict(e))) for e in exc.errors()]
        raise InventoryError(source, problems) from None
    problems = _semantic_problems(inv)
    if problems:
        raise InventoryError(source, problems)
    return inv


class _DuplicateKeys(yaml.YAMLError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("duplicate keys")
        self.problems = problems


# libyaml's parser where PyYAML was built with it: the same safe constructor, a
# fraction of the parse time (inventories are loaded by every command and test).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """A safe loader that refuses a mapping with the same key twice (PyYAML keeps the last
    one silently: a second `port:` would quietly win). Raises _DuplicateKeys listing the
    YAML path and line of each repeat."""

    def construct_document(self, node: yaml.Node) -> Any:
        problems: list[tuple[str, str]] = []
        _find_duplicate_keys(node, "", problems, set())
        if problems:
            raise _DuplicateKeys(problems)
        return super().construct_document(node)


def _find_duplicate_keys(node: yaml.Node, path: str, problems: list[tuple[str, str]],
                         seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:  # an alias: already walked
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in first_line:
                problems.append((child, f"duplicate key {key!r} at line {line} (first at "
                                 f"line {first_line[key]}): give each key once"))
            else:
                first_line[key] = line
            _find_duplicate_keys(value_node, child, problems, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicate_keys(item, f"{path}[{i}]", problems, seen_nodes)


def load_inventory(path: str | os.PathLike[str], *, check_secrets: bool = False) -> Inventory:
    """Read and validate an inventory file.

    With check_secrets, every referenced password file must be readable and every
    password variable set (for commands that will connect). Raises InventoryError
    (exit 2) naming file and field; nothing is changed.
    """
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise InventoryError(source, [("", "file not found (give -i PATH or set "
                                            "SBS_INVENTORY)")]) from None
    except OSError as exc:
        raise InventoryError(source, [("", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except _DuplicateKeys as exc:
        raise InventoryError(source, exc.problems) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(source, [(where, f"not valid YAML: {problem}")]) from None
    inv = parse_inventory(data, source)
    if check_secrets:
        problems = [(p, w) for p, w in secret_problems(inv)]
        if problems:
            raise InventoryError(source, problems)
    return inv


def _secret_refs(inv: Inventory) -> list[tuple[str, SecretRef]]:
    refs: list[tuple[str, SecretRef]] = [("old.database", inv.old.database),
                                         ("new.database", inv.new.database)]
    for side in ("old", "new"):
        broker = inv.side(side).broker
        if broker:
            refs.append((f"{side}.broker", broker))
    return refs


def secret_problems(inv: Inventory) -> list[tuple[str, str]]:
    """Every secret reference and key file the run will read, read now (values are only
    registered for redaction, never shown): (field, what is wrong) for each that fails."""
    problems = []
    for path, ref in _secret_refs(inv):
        try:
            resolve_password(ref, path)
        except InputError as exc:
            problems.append((f"{path}.{exc.hint or ''}".rstrip("."), exc.message))
    for name, model in inv.hosts.items():
        if model.transport != "ssh":
            continue
        for key in ("identity", "known_hosts"):
            value = getattr(model.ssh, key)
            if value and not os.access(os.path.expanduser(value), os.R_OK):
                problems.append((f"hosts.{name}.ssh.{key}",
                                 f"{value} cannot be read (missing or not readable)"))
    if inv.clouds_yaml and not os.access(os.path.expanduser(inv.clouds_yaml), os.R_OK):
        problems.append(("clouds_yaml", f"{inv.clouds_yaml} cannot be read (missing or not "
                                        "readable)"))
    return problems


def resolve_password(ref: SecretRef, where: str = "") -> str | None:
    """The password a reference points at, registered for redaction; None when the
    reference names no source (a passwordless account).

    Read by sidebyside.passwords.read_password, the one reader, so the rules are the
    same whether sbs reads it at load or when it connects. Raises InputError (hint =
    the offending field name) when it cannot be read or is empty; the message never
    contains the file's content.
    """
    if not (ref.password_file or ref.password_env or ref.option_file):
        return None
    return read_password(password_file=ref.password_file, password_env=ref.password_env,
                         option_file=ref.option_file, what=where or "database")
