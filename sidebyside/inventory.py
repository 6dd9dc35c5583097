"""The YAML inventory: one validated, immutable model of the cloud being upgraded.

`load_inventory` is the only way in. Every problem is reported as one line naming
the file, the YAML path (`old.database.port`) and what is wrong, all problems at
once, as an `InventoryError` (exit code 2). Secrets are only referenced here
(`password_file`, `password_env`, `option_file`, clouds.yaml); they are read on
demand by `resolve_password`, registered for redaction, and never stored in the
model.
"""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sidebyside.errors import InputError, InventoryError
from sidebyside.redact import register_secret
from sidebyside.services import releases as releases_mod
from sidebyside.services.catalog import SERVICE_ORDER

RELEASE_RE = re.compile(r"^20\d\d\.[12]$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION_RE = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90s`, `30m`, `1h30m`. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 90s or 1h30m")
    if isinstance(value, int | float):
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SshOptions(_Model):
    user: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    identity: str | None = None
    jump: str | None = None
    known_hosts: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


class HostModel(_Model):
    address: str = Field(min_length=1)
    transport: Literal["local", "ssh", "netns"] = "ssh"
    ssh: SshOptions = Field(default_factory=SshOptions)
    netns: str | None = None
    sudo: bool = False
    root: str = "/"

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

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError("inline passwords are not allowed: use password_file, "
                             "password_env or option_file")
        return data

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
    port: int = Field(default=3306, ge=1, le=65535)
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
    """How one service is stopped and started on a side's controllers."""

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


class HaproxyNode(_Model):
    host: str
    socket: str = "/run/haproxy/admin.sock"


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

    map: str = Field(min_length=1)
    allow_token_issue: bool = False


class HaproxyModel(_Model):
    nodes: list[HaproxyNode] = Field(min_length=1)
    state_file: str | None = None
    write_freeze: WriteFreezeModel | None = None
    backends: dict[str, BackendModel] = Field(default_factory=dict)


class KeepalivedModel(_Model):
    instance: str
    vip: str
    old: list[str] = Field(min_length=1)
    new: list[str] = Field(min_length=1)
    track_file: str | None = None


class HaModel(_Model):
    haproxy: HaproxyModel | None = None
    keepalived: KeepalivedModel | None = None
    vip_cloud: str | None = None

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


class WindowModel(_Model):
    max_downtime: Duration
    drain_timeout: Duration = 120.0


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


def _semantic_problems(inv: Inventory) -> list[tuple[str, str]]:
    """Cross-field checks pydantic cannot express field by field."""
    problems: list[tuple[str, str]] = []
    hosts = set(inv.hosts)

    def need_host(path: str, name: str) -> None:
        if name not in hosts:
            problems.append((path, f"host {name!r} is not defined under hosts"))

    for side_name in ("old", "new"):
        side = inv.side(side_name)
        for i, host in enumerate(side.controllers):
            need_host(f"{side_name}.controllers[{i}]", host)
        for svc in side.services:
            if svc not in inv.services:
                problems.append((f"{side_name}.services.{svc}",
                                 f"service {svc!r} is not in the top-level services list"))
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
    both = sorted(set(inv.old.controllers) & set(inv.new.controllers))
    for name in both:
        problems.append(("new.controllers", f"host {name!r} is on both the old and the new side"))
    if inv.old.cloud == inv.new.cloud:
        problems.append(("new.cloud", "old and new sides must use different clouds.yaml clouds"))
    if (inv.old.database.host, inv.old.database.port) == (inv.new.database.host,
                                                           inv.new.database.port):
        problems.append(("new.database", "the new database server is the old one: "
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
    if inv.old.broker and inv.old.broker.host:
        need_host("old.broker.host", inv.old.broker.host)
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
        data = yaml.safe_load(text)
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
    problems = []
    for path, ref in _secret_refs(inv):
        try:
            resolve_password(ref, path)
        except InputError as exc:
            problems.append((f"{path}.{exc.hint or ''}".rstrip("."), exc.message))
    return problems


def resolve_password(ref: SecretRef, where: str = "") -> str | None:
    """The password a reference points at, registered for redaction.

    Raises InputError (hint = the offending field name) when it cannot be read.
    """
    if ref.password_file:
        path = Path(os.path.expanduser(ref.password_file))
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise InputError(f"password file {path} cannot be read: {exc.strerror}",
                             hint="password_file") from None
        if not value:
            raise InputError(f"password file {path} is empty", hint="password_file")
    elif ref.password_env:
        value = os.environ.get(ref.password_env, "")
        if not value:
            raise InputError(f"environment variable {ref.password_env} is not set",
                             hint="password_env")
    elif ref.option_file:
        path = Path(os.path.expanduser(ref.option_file))
        parser = configparser.ConfigParser(strict=False, allow_no_value=True,
                                           interpolation=None)
        try:
            parser.read_string(path.read_text())
        except (OSError, configparser.Error) as exc:
            raise InputError(f"option file {path} cannot be read: {exc}",
                             hint="option_file") from None
        value = parser.get("client", "password", fallback="") or ""
        value = value.strip().strip("'\"")
        if not value:
            raise InputError(f"option file {path} has no [client] password",
                             hint="option_file")
    else:
        return None
    register_secret(value)
    return value
