"""The two sides proven apart by identity: controllers by machine id (ssh host keys as
the fallback), the message bus by broker and vhost; the gate step's refusal is the
command's exit code, with nothing else run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.sides import ProveSidesDistinct
from sidebyside.engine.environment import Environment
from sidebyside.engine.guarded_run import run_command
from sidebyside.errors import PreflightError
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan import build_plan
from sidebyside.remote.base import CommandResult, Host, RemoteError
from sidebyside.services.catalog import catalog
from sidebyside.sides import (
    MachineReader,
    SameMachineError,
    SharedBusError,
    require_distinct_controllers,
    shared_bus,
)
from sidebyside.upgrade.preflight import _Preflight
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ID_A = "0123456789abcdef0123456789abcdef"
ID_B = "fedcba9876543210fedcba9876543210"
KEY_A = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA root@a\n"
KEY_B = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB root@b\n"


class FakeHost(Host):
    """A host made of a dict of files; `down` makes every access fail like ssh does."""

    def __init__(self, name: str, files: dict[str, bytes], down: bool = False) -> None:
        self.name, self.files, self.down = name, files, down

    def _reach(self, what: str) -> None:
        if self.down:
            raise RemoteError(self.name, what, "failed: connection refused")

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        raise AssertionError("the proof only reads files")

    def put_file(self, path: str, data: bytes, **kwargs: Any) -> None:
        raise AssertionError("the proof writes nothing")

    def read_file(self, path: str) -> bytes:
        self._reach(f"cat {path}")
        if path not in self.files:
            raise RemoteError(self.name, f"cat {path}", "failed: No such file")
        return self.files[path]

    def exists(self, path: str) -> bool:
        self._reach(f"test -e {path}")
        return path in self.files


def two_by_two(old_roots: tuple[str, str] = ("/", "/"),
               new_roots: tuple[str, str] = ("/", "/")) -> Inventory:
    data = example_inventory("minimal.yaml")
    data["hosts"] = {
        "ctl-a": {"address": "10.0.0.11", "root": old_roots[0]},
        "ctl-c": {"address": "10.0.0.13", "root": old_roots[1]},
        "ctl-d": {"address": "10.0.0.14", "root": new_roots[0]},
        "ctl-b": {"address": "10.0.0.12", "root": new_roots[1]},
        "lb1": {"address": "10.0.0.5"}}
    data["old"]["controllers"] = ["ctl-a", "ctl-c"]
    data["new"]["controllers"] = ["ctl-d", "ctl-b"]
    for backend in data["ha"]["haproxy"]["backends"].values():
        backend["old"], backend["new"] = ["ctl-a", "ctl-c"], ["ctl-d", "ctl-b"]
    return parse_inventory(data)


def ids(**machine_ids: str) -> dict[str, FakeHost]:
    return {name: FakeHost(name, {"/etc/machine-id": f"{mid}\n".encode()})
            for name, mid in machine_ids.items()}


def other(n: int) -> str:
    return f"{n:032x}"


def reader(inv: Inventory, hosts: dict[str, FakeHost]) -> MachineReader:
    return MachineReader(inv, hosts.__getitem__)


def test_an_old_and_a_new_controller_with_one_machine_id_are_refused_naming_both_fields():
    inv = two_by_two()
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": ID_A})
    with pytest.raises(SameMachineError) as err:
        require_distinct_controllers(inv, reader(inv, hosts))
    assert err.value.exit_code == 2
    message = err.value.message
    assert "old.controllers[0] 'ctl-a' and new.controllers[1] 'ctl-b' are the same " \
           "machine (machine-id 01234567…)" in message
    assert ID_A not in message  # the whole id is not for others to read


def test_different_machine_ids_pass_and_each_controller_is_shown():
    inv = two_by_two()
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": ID_B})
    shown = require_distinct_controllers(inv, reader(inv, hosts))
    assert shown == {"ctl-a": "machine-id 01234567…", "ctl-c": f"machine-id {other(3)[:8]}…",
                     "ctl-d": f"machine-id {other(4)[:8]}…", "ctl-b": "machine-id fedcba98…"}


def test_the_machine_id_is_read_under_the_host_root():
    inv = two_by_two(old_roots=("/srv/lab/old", "/srv/lab/old2"),
                     new_roots=("/srv/lab/new", "/srv/lab/new2"))
    # one machine, four roots: the system's own id is the same everywhere, the roots' ids
    # differ; the roots' are the ones that count
    shared = {"/etc/machine-id": ID_A.encode()}
    hosts = {name: FakeHost(name, {**shared, f"{root}/etc/machine-id": other(i).encode()})
             for i, (name, root) in enumerate((("ctl-a", "/srv/lab/old"),
                                               ("ctl-c", "/srv/lab/old2"),
                                               ("ctl-d", "/srv/lab/new"),
                                               ("ctl-b", "/srv/lab/new2")))}
    require_distinct_controllers(inv, reader(inv, hosts))
    hosts["ctl-b"].files["/srv/lab/new2/etc/machine-id"] = other(1).encode()  # ctl-c's
    with pytest.raises(SameMachineError, match=r"old.controllers\[1\] 'ctl-c' and "
                                               r"new.controllers\[1\] 'ctl-b'"):
        require_distinct_controllers(inv, reader(inv, hosts))


@pytest.mark.parametrize("unreadable", [None, b"", b"uninitialized\n"])
def test_without_a_machine_id_the_ssh_host_keys_decide(unreadable: bytes | None):
    inv = two_by_two()
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": ID_B})
    for host, key in ((hosts["ctl-a"], KEY_A), (hosts["ctl-b"], KEY_A),
                      (hosts["ctl-c"], KEY_B), (hosts["ctl-d"], KEY_B)):
        host.files["/etc/ssh/ssh_host_ed25519_key.pub"] = key
    del hosts["ctl-b"].files["/etc/machine-id"]
    if unreadable is not None:
        hosts["ctl-b"].files["/etc/machine-id"] = unreadable
    # ctl-b has no machine id; its host key is ctl-a's
    with pytest.raises(SameMachineError) as err:
        require_distinct_controllers(inv, reader(inv, hosts))
    assert "old.controllers[0] 'ctl-a' and new.controllers[1] 'ctl-b' are the same " \
           "machine (ssh host key ssh-ed25519" in err.value.message
    # with a key of its own it is another machine
    hosts["ctl-b"].files["/etc/ssh/ssh_host_ed25519_key.pub"] = KEY_A.replace(b"AAAAAAAA",
                                                                             b"CCCCCCCC")
    shown = require_distinct_controllers(inv, reader(inv, hosts))
    assert shown["ctl-b"] == "ssh host key ssh-ed25519"


def test_a_host_with_neither_machine_id_nor_host_key_cannot_be_proven_apart():
    inv = two_by_two()
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4)})
    hosts["ctl-b"] = FakeHost("ctl-b", {})
    with pytest.raises(PreflightError, match="cannot prove that 'ctl-a' and 'ctl-b'") as err:
        require_distinct_controllers(inv, reader(inv, hosts))
    assert err.value.exit_code == 3


def test_a_controller_that_does_not_answer_is_unreachable_not_unreadable():
    inv = two_by_two()
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": ID_B})
    hosts["ctl-b"].down = True
    with pytest.raises(RemoteError) as err:
        require_distinct_controllers(inv, reader(inv, hosts))
    assert err.value.exit_code == 8


# -- the gate step in a run ---------------------------------------------------------


class Recorder:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def run(self, step: Any, ctx: Any) -> dict[str, Any]:
        self.calls.append(step.id)
        return {}


def actions_with_proof(hosts: dict[str, FakeHost], calls: list[str]):
    def make(env: Environment) -> dict[str, Any]:
        actions: dict[str, Any] = {
            s.action: Recorder(calls) for c in ("prepare", "cutover", "rollback")
            for s in build_plan(env.inventory, c).steps}
        actions["prove_sides_distinct"] = ProveSidesDistinct(ActionContext(
            env.inventory, hosts.__getitem__, env.state_dir))  # type: ignore[arg-type]
        return actions
    return make


@pytest.mark.parametrize("command", ["prepare", "cutover", "rollback"])
def test_every_run_refuses_one_machine_on_both_sides_with_exit_2_before_any_step(
        tmp_path: Path, command: str):
    env = Environment(inventory=two_by_two(), state_dir=tmp_path)
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": ID_A, "ctl-b": ID_B})
    calls: list[str] = []
    plan = build_plan(env.inventory, command)
    assert plan.steps[0].action == "prove_sides_distinct" and plan.steps[0].gate
    with pytest.raises(SameMachineError) as err:
        run_command(env, command, actions_with_proof(hosts, calls))
    assert err.value.exit_code == 2  # not a failed step (4), nor a failed rollback (6)
    assert "new.controllers[0] 'ctl-d'" in err.value.message
    assert calls == []  # nothing after the proof ran
    run = env.journal.latest_run(command)
    assert run is not None and run.rc == 2


def test_the_gate_proves_again_when_a_run_resumes(tmp_path: Path):
    env = Environment(inventory=two_by_two(), state_dir=tmp_path)
    good = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": ID_B})
    calls: list[str] = []

    class FailOnce(Recorder):
        def run(self, step: Any, ctx: Any) -> dict[str, Any]:
            super().run(step, ctx)
            if step.id == "cutover.final-copy" and calls.count(step.id) == 1:
                raise PreflightError("injected")
            return {}

    def make(hosts: dict[str, FakeHost]):
        inner = actions_with_proof(hosts, calls)

        def factory(env: Environment) -> dict[str, Any]:
            actions = inner(env)
            return {k: (v if k == "prove_sides_distinct" else FailOnce(calls))
                    for k, v in actions.items()}
        return factory

    # the first run proves by identity, then fails later (a resumable step failure)
    with pytest.raises(Exception, match="injected"):
        run_command(env, "cutover", make(good))
    # the operator "fixes" the inventory into one machine on both sides: the resume
    # is refused by the gate, the failed step is not re-run
    calls.clear()
    same = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": other(3)})
    with pytest.raises(SameMachineError):
        run_command(env, "cutover", make(same))
    assert calls == []


@pytest.fixture(autouse=True)
def distinct_database_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database half of the proof runs on real servers (tests/integration); here
    the servers are two by a stub, so that the controllers' half is what is tested."""
    import sidebyside.actions.sides as sides_action

    class Identity:
        def describe(self) -> str:
            return "stub"

    monkeypatch.setattr(sides_action, "require_distinct_servers",
                        lambda old, new: (Identity(), Identity()))
    monkeypatch.setattr(sides_action.db, "endpoint_from_inventory",
                        lambda database: _Endpoint(database.host, database.port))


class _Endpoint:
    def __init__(self, host: str, port: int) -> None:
        self.address = f"{host}:{port}"


# -- the message bus ----------------------------------------------------------------


def production(**changes: Any) -> dict[str, Any]:
    data = example_inventory("production.yaml")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


def test_the_catalog_says_which_services_start_rpc_workers():
    workers = {name for name, info in catalog().items() if info.rpc_workers}
    assert workers == {"nova", "neutron", "cinder", "heat"}
    assert "nova-conductor" in catalog()["nova"].rpc_workers


def test_the_production_example_gives_the_new_side_a_bus_of_its_own():
    assert shared_bus(parse_inventory(production())) is None


def test_a_new_side_without_a_broker_inherits_the_old_one_and_is_refused():
    inv = parse_inventory(production(new__broker=None))
    why = shared_bus(inv)
    assert why is not None
    assert "new.broker is not given" in why and "old.broker.host 'rabbit1'" in why
    assert "nova (nova-conductor, nova-scheduler)" in why and "heat (heat-engine)" in why
    assert "keystone" not in why and "glance" not in why
    with pytest.raises(SharedBusError) as err:
        build_plan(inv, "prepare")  # no plan, no dry run, no prepare
    assert err.value.exit_code == 3
    build_plan(inv, "cutover")  # the cutover itself ends on the old broker: not refused
    build_plan(inv, "rollback")


@pytest.mark.parametrize("new_broker", [
    {"host": "rabbit1", "vhost": "/"},                  # the same inventory host
    {"host": "rabbit1", "vhost": "%2F"},                # quoted "/"
    {"host": "10.20.0.21.", "vhost": "/"},              # the old one's address, a dot
    {"management_url": "http://10.20.0.21:15672", "vhost": "/"},
    {"vhost": "/"},                                     # no host of its own
])
def test_the_old_brokers_host_and_vhost_under_another_spelling_are_refused(
        new_broker: dict[str, str]):
    why = shared_bus(parse_inventory(production(new__broker=new_broker)))
    assert why is not None and "new.broker" in why and "old.broker.host 'rabbit1'" in why
    assert "old.broker.vhost '/'" in why


def test_another_vhost_or_another_broker_is_a_bus_of_its_own():
    assert shared_bus(parse_inventory(production(
        new__broker={"host": "rabbit1", "vhost": "/new-cloud"}))) is None
    assert shared_bus(parse_inventory(production(
        new__broker={"host": "rabbit1-new", "vhost": "/"}))) is None


def test_broker_hosts_with_two_addresses_are_compared_by_identity_where_given():
    inv = parse_inventory(production())
    assert shared_bus(inv, same_host=lambda a, b: False) is None
    why = shared_bus(inv, same_host=lambda a, b: (a, b) == ("rabbit1", "rabbit1-new"))
    assert why is not None and "new.broker.host 'rabbit1-new'" in why


def test_api_only_services_may_share_the_bus():
    data = example_inventory("minimal.yaml")  # keystone, glance
    data["old"]["broker"] = {"host": "lb1", "vhost": "/"}
    assert shared_bus(parse_inventory(data)) is None
    data["new"]["broker"] = {"host": "lb1", "vhost": "/"}
    assert shared_bus(parse_inventory(data)) is None


def test_preflight_reports_a_shared_bus_as_a_blocker_naming_the_fields():
    inv = parse_inventory(production(new__broker={"host": "rabbit1", "vhost": "/"}))
    check = _Preflight(inv, hosts=lambda name: pytest.fail("no host needed"),
                       log=lambda line: None)
    check.bus()
    [result] = check.report.results
    assert result.severity == "blocker" and result.check == "bus"
    assert "new.broker.host 'rabbit1', new.broker.vhost '/'" in result.message
    with pytest.raises(PreflightError) as err:
        check.report.raise_if_blocked()
    assert err.value.exit_code == 3


def test_preflight_reports_a_proof_failure_with_the_runs_message():
    inv = two_by_two()
    hosts = ids(**{"ctl-a": ID_A, "ctl-c": other(3), "ctl-d": other(4), "ctl-b": ID_A})
    check = _Preflight(inv, hosts=hosts.__getitem__, log=lambda line: None)
    check.sides()
    [result] = check.report.results
    assert result.severity == "blocker" and result.check == "sides"
    assert "old.controllers[0] 'ctl-a' and new.controllers[1] 'ctl-b' are the same " \
           "machine (machine-id 01234567…)" in result.message


def test_prepares_gate_refuses_two_broker_names_for_one_machine_with_exit_3(tmp_path: Path):
    inv = parse_inventory(production())  # rabbit1 and rabbit1-new: two addresses
    env = Environment(inventory=inv, state_dir=tmp_path)
    machines = {name: other(i + 1) for i, name in enumerate(inv.hosts)}
    machines["rabbit1-new"] = machines["rabbit1"]  # ... but one machine
    calls: list[str] = []
    with pytest.raises(SharedBusError) as err:
        run_command(env, "prepare", actions_with_proof(ids(**machines), calls))
    assert err.value.exit_code == 3 and calls == []
    assert "new.broker.host 'rabbit1-new'" in err.value.message
    machines["rabbit1-new"] = other(99)
    run_command(env, "prepare", actions_with_proof(ids(**machines), calls))
    assert calls[0] == "prepare.preflight"


def test_the_carried_configs_follow_the_new_broker_of_the_inventory():
    from sidebyside.config.migrate import bus_move_for

    production_move = bus_move_for(parse_inventory(production()))
    assert production_move is not None
    assert production_move.new_host == "10.20.1.21"  # rabbit1-new, another machine
    assert production_move.old_hosts == frozenset({"10.20.0.21"})
    same_broker = bus_move_for(parse_inventory(production(
        new__broker={"host": "rabbit1", "user": "sbs", "vhost": "/new"})))
    assert same_broker is not None and same_broker.new_host is None
    assert (same_broker.old_vhost, same_broker.new_vhost) == ("/", "/new")
    assert bus_move_for(parse_inventory(production(new__broker=None))) is None
