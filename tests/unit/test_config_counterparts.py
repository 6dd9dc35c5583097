"""Per-host configuration: which old controller each new one takes its files from, the
host map that carries that counterpart's address, and the config step doing both on
fake hosts (an in-memory file tree answering the few commands the step runs)."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.actions.config import ConfigAction, per_host_delta
from sidebyside.actions.context import ActionContext
from sidebyside.config.counterparts import counterparts, per_host_map
from sidebyside.config.ini import Document
from sidebyside.config.metadata import load_metadata
from sidebyside.config.rules import load_rules
from sidebyside.config.translate import HostMap, translate_document
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal
from sidebyside.errors import InputError
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan.model import Changes, Step
from sidebyside.remote.base import CommandResult, Host, RemoteError

METADATA = Path(__file__).parent.parent / "data" / "config" / "metadata"
OLD = ["old-ctl1", "old-ctl2", "old-ctl3"]
NEW = ["new-ctl1", "new-ctl2", "new-ctl3"]
ADDRESS = {"old-ctl1": "10.0.0.11", "old-ctl2": "10.0.0.12", "old-ctl3": "10.0.0.13",
           "new-ctl1": "10.0.1.11", "new-ctl2": "10.0.1.12", "new-ctl3": "10.0.1.13",
           "lb1": "10.0.0.5"}


# ---- which old controller -----------------------------------------------------------

def test_by_position_when_no_mapping_is_given() -> None:
    assert counterparts(OLD, NEW) == dict(zip(NEW, OLD, strict=True))


def test_the_inventory_mapping_wins_and_may_share_one_old_controller() -> None:
    given = {"new-ctl1": "old-ctl3", "new-ctl3": "old-ctl3"}
    assert counterparts(OLD, NEW, given) == {
        "new-ctl1": "old-ctl3", "new-ctl2": "old-ctl2", "new-ctl3": "old-ctl3"}


def test_fewer_new_controllers_take_the_first_old_ones() -> None:
    assert counterparts(OLD, ["new-ctl1"]) == {"new-ctl1": "old-ctl1"}


def test_more_new_than_old_controllers_without_a_mapping_is_refused() -> None:
    with pytest.raises(InputError) as raised:
        counterparts(["old-ctl1"], NEW)
    assert raised.value.exit_code == 2
    message = str(raised.value)
    assert message.startswith("new.counterparts:")
    assert "new-ctl2, new-ctl3" in message and "new-ctl1," not in message


def test_more_new_than_old_controllers_with_a_mapping_for_the_extra_ones() -> None:
    assert counterparts(["old-ctl1"], NEW, {"new-ctl2": "old-ctl1", "new-ctl3": "old-ctl1"}) \
        == {h: "old-ctl1" for h in NEW}


def test_a_mapping_naming_unknown_controllers_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match=r"new.counterparts.new-ctl2: 'old-ctl9'"):
        counterparts(OLD, NEW, {"new-ctl2": "old-ctl9"})
    with pytest.raises(InputError, match=r"new.counterparts.new-ctl9: 'new-ctl9'"):
        counterparts(OLD, NEW, {"new-ctl9": "old-ctl1"})


# ---- the host map of one new controller ----------------------------------------------

def test_the_counterparts_address_goes_to_this_controller_over_the_global_map() -> None:
    base = HostMap({"10.0.0.12": "10.0.1.12", "vip-old": "vip-new"}, database="db:3306")
    mapped = per_host_map(base, old_address="10.0.0.12", new_address="10.0.1.13")
    assert mapped.hosts == {"10.0.0.12": "10.0.1.13", "vip-old": "vip-new"}
    assert mapped.database == "db:3306"
    assert base.hosts["10.0.0.12"] == "10.0.1.12"  # the global map is left alone


@pytest.mark.parametrize("local", ["localhost", "127.0.0.1", "::1", "0.0.0.0"])
def test_loopback_and_wildcard_addresses_are_never_mapped(local: str) -> None:
    assert per_host_map(HostMap(), old_address=local, new_address="10.0.1.11").hosts == {}


def translated_memcache(old_text: str, host_map: HostMap) -> str:
    new = load_metadata(str(METADATA / "keystone-2026.1.yaml"), service="keystone",
                        release="2026.1")
    document = Document.parse(old_text.encode(), path="/etc/keystone/keystone.conf")
    translate_document(document, path="/etc/keystone/keystone.conf", service="keystone",
                       new=new, old=None, rules=load_rules("2025.1", "2026.1", "keystone"),
                       host_map=host_map)
    return document.get("cache", "memcache_servers")[-1]


def test_each_new_controller_translates_its_own_counterparts_value() -> None:
    base = HostMap({ADDRESS[o]: ADDRESS[n] for o, n in zip(OLD, NEW, strict=True)})
    # new-ctl3 takes old-ctl2's file (inventory mapping): old-ctl2's own address becomes
    # new-ctl3's, not new-ctl2's as the global map alone would say
    mapped = per_host_map(base, old_address=ADDRESS["old-ctl2"],
                          new_address=ADDRESS["new-ctl3"])
    value = translated_memcache("[cache]\nmemcache_servers = 10.0.0.12:11211\n", mapped)
    assert value == "10.0.1.13:11211"
    assert translated_memcache("[cache]\nmemcache_servers = 10.0.0.12:11211\n", base) \
        == "10.0.1.12:11211"


# ---- the step on fake hosts -------------------------------------------------------------

class TreeHost(Host):
    """A host whose files are a dict; answers find, mkdir, install, mktemp, rm and the
    oslo generator/validator the config step runs, and records every command."""

    def __init__(self, name: str, files: dict[str, bytes] | None = None,
                 generator_output: str = "") -> None:
        self.name = name
        self.files: dict[str, bytes] = dict(files or {})
        self.dirs: set[str] = {"/"}
        for path in self.files:
            self._add_parents(path)
        self.generator_output = generator_output
        self.commands: list[list[str]] = []
        self.fail_validator = False
        self._lock = threading.Lock()
        self._temp = 0

    def _add_parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent not in self.dirs:
            self.dirs.add(parent)
            parent = posixpath.dirname(parent)

    def _ok(self, argv: Sequence[str], stdout: str = "", rc: int = 0) -> CommandResult:
        return CommandResult(self.name, tuple(argv), rc, stdout, "", 0.0)

    def _find(self, argv: Sequence[str]) -> str:
        recursive = "-maxdepth" not in argv
        targets = [a for a in argv[2:argv.index("-printf")] if a.startswith("/")]
        lines = []
        for target in targets:
            paths = [target]
            if recursive and target in self.dirs:
                paths += sorted(p for p in self.files.keys() | self.dirs
                                if p.startswith(target.rstrip("/") + "/"))
            for path in paths:
                kind = "d" if path in self.dirs else "f"
                size = len(self.files.get(path, b""))
                mode = "700" if kind == "d" else "640"
                lines.append(f"{kind}\troot\troot\t{mode}\t{size}\t{path}")
        return "".join(line + "\n" for line in lines)

    def run(self, argv: Sequence[str], *, timeout: float = 600.0, check: bool = True,
            input: bytes | None = None, env: dict[str, str] | None = None,
            on_output: Any = None, sudo: bool | None = None) -> CommandResult:
        with self._lock:
            self.commands.append(list(argv))
            tool = posixpath.basename(argv[0])
            if tool == "find":
                return self._ok(argv, self._find(argv))
            if tool == "mktemp":
                self._temp += 1
                path = f"/tmp/sbs-config.private{self._temp}"
                self.dirs.add(path)
                return self._ok(argv, path + "\n")
            if tool == "rm":
                target = argv[-1]
                self.dirs.discard(target)
                for path in [p for p in self.files if p.startswith(target + "/")]:
                    del self.files[path]
                return self._ok(argv)
            if tool in ("mkdir", "install"):
                self.dirs.add(argv[-1])
                self._add_parents(argv[-1])
                return self._ok(argv)
            if tool == "oslo-config-generator":
                return self._ok(argv, self.generator_output)
            if tool == "oslo-config-validator":
                if self.fail_validator:
                    raise RemoteError(self.name, "oslo-config-validator", "lost the host")
                return self._ok(argv)
        raise AssertionError(f"unexpected command on {self.name}: {argv}")

    def put_file(self, path: str, data: bytes, *, mode: int = 0o600,
                 owner: str | None = None, group: str | None = None) -> None:
        with self._lock:
            self.files[path] = data
            self._add_parents(path)

    def read_file(self, path: str) -> bytes:
        return self.files[path]

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs


def keystone_conf(address: str) -> bytes:
    return (f"[cache]\nmemcache_servers = {address}:11211\n\n"
            "[database]\nconnection = mysql+pymysql://keystone:pw@10.0.0.30:3306/keystone\n"
            "\n[fernet_tokens]\nkey_repository = /etc/keystone/fernet-keys/\n").encode()


def fleet_inventory(old: list[str], new: list[str],
                    counterpart_map: dict[str, str] | None = None) -> Inventory:
    control = {"keystone": {"units": ["apache2"]}}
    side = {"old": old, "new": new}
    data: dict[str, Any] = {
        "environment": "unit", "release": {"from": "2025.1", "to": "2026.1"},
        "services": ["keystone"],
        "hosts": {n: {"address": ADDRESS[n]} for n in [*old, *new, "lb1"]},
        **{s: {"controllers": side[s], "cloud": f"cloud-{s}", "services": control,
               "database": {"host": "10.0.0.30" if s == "old" else "10.0.1.30"}}
           for s in ("old", "new")},
        "ha": {"haproxy": {"nodes": [{"host": "lb1"}], "backends": {
            "keystone": {"backend": "keystone_api", "old": old, "new": new}}}},
        "host_map": {ADDRESS[o]: ADDRESS[n] for o, n in zip(old, new, strict=False)},
    }
    if counterpart_map:
        data["new"]["counterparts"] = counterpart_map
    return parse_inventory(data, "unit.yaml")


@cache
def generator_output() -> str:
    """keystone 2026.1's real metadata, cut to the groups these files use (fast)."""
    data = yaml.load((METADATA / "keystone-2026.1.yaml").read_text(),  # noqa: S506 - safe
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    data["options"] = {g: v for g, v in data["options"].items()
                       if g in ("DEFAULT", "cache", "database", "fernet_tokens")}
    return str(yaml.safe_dump(data))


def fleet(tmp_path: Path, inventory: Inventory) -> tuple[dict[str, TreeHost], ConfigAction]:
    generator = generator_output()
    hosts = {name: TreeHost(name, {
        "/etc/keystone/keystone.conf": keystone_conf(ADDRESS[name]),
        "/etc/keystone/fernet-keys/0": f"key of {name}".encode()})
        for name in inventory.old.controllers}
    hosts.update({name: TreeHost(name, generator_output=generator)
                  for name in inventory.new.controllers})
    return hosts, ConfigAction(ActionContext(inventory, hosts.__getitem__, tmp_path))  # type: ignore[arg-type]


def run_step(tmp_path: Path, action: ConfigAction, phase: str = "prepare",
             journal: Journal | None = None) -> tuple[dict[str, Any], StepContext]:
    step = Step(id=f"{phase}.config.keystone", action="migrate_config", service="keystone",
                title="config", changes=Changes.NEW_SIDE,
                hosts=tuple(action.inventory.new.controllers),
                params={"delta": phase == "cutover"})
    journal = journal or Journal(tmp_path / "state")
    run_id = journal.start_run(phase, "unit", [step.to_dict()])
    ctx = StepContext(run_id=run_id, step=step, journal=journal, options={})
    return action.run(step, ctx), ctx


def memcache_of(host: TreeHost) -> str:
    document = Document.parse(host.files["/etc/keystone/keystone.conf"], path="k")
    return document.get("cache", "memcache_servers")[-1]


def test_each_new_controller_gets_its_own_counterparts_files(tmp_path: Path) -> None:
    hosts, action = fleet(tmp_path, fleet_inventory(OLD, NEW))
    old_before = {n: dict(hosts[n].files) for n in OLD}
    outcome, _ = run_step(tmp_path, action)
    for old, new in zip(OLD, NEW, strict=True):
        assert memcache_of(hosts[new]) == f"{ADDRESS[new]}:11211"
        assert hosts[new].files["/etc/keystone/fernet-keys/0"] == f"key of {old}".encode()
        assert hosts[old].files == old_before[old]  # only read
    assert outcome["counterparts"] == dict(zip(NEW, OLD, strict=True))
    for new in NEW:
        assert f"+memcache_servers = {ADDRESS[new]}:11211" in \
            outcome["diffs"][new]["/etc/keystone/keystone.conf"]


def test_an_inventory_mapping_takes_that_old_controllers_files(tmp_path: Path) -> None:
    inventory = fleet_inventory(OLD, NEW, {"new-ctl3": "old-ctl1"})
    hosts, action = fleet(tmp_path, inventory)
    run_step(tmp_path, action)
    assert hosts["new-ctl3"].files["/etc/keystone/fernet-keys/0"] == b"key of old-ctl1"
    assert memcache_of(hosts["new-ctl3"]) == f"{ADDRESS['new-ctl3']}:11211"
    assert memcache_of(hosts["new-ctl1"]) == f"{ADDRESS['new-ctl1']}:11211"


def test_an_unmatched_new_controller_is_refused_when_the_inventory_loads() -> None:
    with pytest.raises(InputError) as raised:  # before any step: nothing changed
        fleet_inventory(["old-ctl1"], NEW)
    assert raised.value.exit_code == 2
    assert "new.counterparts: no old controller to take the configuration of new-ctl2, " \
        "new-ctl3 from" in str(raised.value)
    fleet_inventory(["old-ctl1"], NEW, {"new-ctl2": "old-ctl1", "new-ctl3": "old-ctl1"})


def test_the_cutover_delta_is_per_counterpart(tmp_path: Path) -> None:
    hosts, action = fleet(tmp_path, fleet_inventory(OLD, NEW))
    journal = Journal(tmp_path / "state")
    run_step(tmp_path, action, journal=journal)
    hosts["old-ctl2"].files["/etc/keystone/fernet-keys/1"] = b"a new key"  # an operator
    outcome, ctx = run_step(tmp_path, action, "cutover", journal=journal)
    assert outcome["delta_by_host"] == {
        "new-ctl1": [], "new-ctl2": ["added /etc/keystone/fernet-keys/1"], "new-ctl3": []}
    assert "since prepare, on old-ctl2 (for new-ctl2): added /etc/keystone/fernet-keys/1" \
        in ctx.log_lines


def test_a_prepare_fact_of_one_manifest_stands_for_every_host() -> None:
    manifest = {"entries": [{"path": "/etc/k.conf", "sha256": "a"}]}
    changed = {"entries": [{"path": "/etc/k.conf", "sha256": "b"}]}
    assert per_host_delta(manifest, {"n1": manifest, "n2": changed}) == {
        "n1": [], "n2": ["changed /etc/k.conf"]}


# ---- the validator's metadata: a private directory, removed ----------------------------

def private_dirs(host: TreeHost) -> tuple[list[str], list[str]]:
    made = [c for c in host.commands if posixpath.basename(c[0]) == "mktemp"]
    removed = [c[-1] for c in host.commands if posixpath.basename(c[0]) == "rm"]
    return [" ".join(c) for c in made], removed


def test_the_metadata_goes_to_a_private_temporary_directory_removed_after(
        tmp_path: Path) -> None:
    hosts, action = fleet(tmp_path, fleet_inventory(OLD[:1], NEW[:1]))
    run_step(tmp_path, action)
    host = hosts["new-ctl1"]
    made, removed = private_dirs(host)
    assert made == ["mktemp -d -t sbs-config.XXXXXXXXXX"]
    assert removed == ["/tmp/sbs-config.private1"]
    validator = next(c for c in host.commands if c[0].endswith("oslo-config-validator"))
    assert validator[validator.index("--opt-data") + 1].startswith("/tmp/sbs-config.private1/")
    assert not any("/var/tmp/sbs" in " ".join(c) for c in host.commands)
    assert not any(p.startswith("/tmp/sbs-config.private1") for p in host.files)


def test_the_private_directory_is_removed_when_validation_fails(tmp_path: Path) -> None:
    hosts, action = fleet(tmp_path, fleet_inventory(OLD[:1], NEW[:1]))
    hosts["new-ctl1"].fail_validator = True
    with pytest.raises(Exception, match="lost the host"):
        run_step(tmp_path, action)
    assert private_dirs(hosts["new-ctl1"])[1] == ["/tmp/sbs-config.private1"]
    assert "/tmp/sbs-config.private1" not in hosts["new-ctl1"].dirs


def test_one_step_carries_every_service_it_lists(tmp_path: Path) -> None:
    """prepare's and cutover's single config step (the services in parallel): each
    service's outcome under its name, its manifest recorded for cutover's delta."""
    hosts, action = fleet(tmp_path, fleet_inventory(OLD, NEW))
    step = Step(id="prepare.config", action="migrate_config", title="config",
                changes=Changes.NEW_SIDE, hosts=tuple(NEW),
                params={"services": ["keystone"], "delta": False})
    journal = Journal(tmp_path / "state")
    run_id = journal.start_run("prepare", "unit", [step.to_dict()])
    ctx = StepContext(run_id=run_id, step=step, journal=journal, options={})
    outcome = action.run(step, ctx)
    assert list(outcome["services"]) == ["keystone"]
    assert outcome["services"]["keystone"]["counterparts"] == dict(zip(NEW, OLD, strict=True))
    assert set(ctx.fact("config.keystone.collected")["hosts"]) == set(NEW)
    for old, new in zip(OLD, NEW, strict=True):
        assert hosts[new].files["/etc/keystone/fernet-keys/0"] == f"key of {old}".encode()
