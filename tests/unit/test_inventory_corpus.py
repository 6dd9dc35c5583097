"""The must-show corpus of malformed inventories (issue 15, section 3).

Each case is a good inventory with one mistake, run through the real command line
(`sbs plan prepare`, `sbs check`, `sbs prepare --dry-run`): exit 2, the file and the
field named on stderr, no traceback, nothing created in the state dir, and none of the
secrets the file references or holds inline shown.

The CLI runs in-process through `sidebyside.cli.main.run` (the console script's own
entry point, so exit codes and messages are the real ones) to keep about 150 runs
fast; a few cases also run as real `sbs` processes
(tests/integration/cli/test_inventory_corpus_process.py).
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.cli import main as cli_main
from tests.conftest import example_inventory

# ~180 runs of one unchanging app: its click command is built once
pytestmark = pytest.mark.usefixtures("typer_command_built_once")

# Secrets of the good base: none may ever appear in any output.
FILE_PASSWORD = "hunter2-file-Pw9"
ENV_PASSWORD = "hunter2-env-Pw9"
EXTRA_VAR_SECRET = "hunter2-extra-Pw9"
INLINE_SECRET = "hunter2-secret"
SECRETS = (FILE_PASSWORD, ENV_PASSWORD, EXTRA_VAR_SECRET, INLINE_SECRET)
PASSWORD_ENV = "SBS_CORPUS_NEW_DB_PASSWORD"

Mutation = Callable[[dict[str, Any], Path], None]


def good_base(tmp: Path) -> dict[str, Any]:
    """minimal.yaml with readable secrets and an inline secret sbs may hold (extra_vars)."""
    data = example_inventory("minimal.yaml")
    password_file = tmp / "old-db.password"
    password_file.write_text(FILE_PASSWORD + "\n")
    data["old"]["database"]["password_file"] = str(password_file)
    data["new"]["database"]["password_env"] = PASSWORD_ENV
    data["deploy"] = {"ansible": {"playbook": "site.yml", "inventory": "hosts.ini",
                                  "extra_vars": {"db_password": EXTRA_VAR_SECRET}}}
    return data


def at(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node[key]
    return node


def put(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        parent, _, last = path.rpartition(".")
        at(data, parent)[last] = copy.deepcopy(value)
    return mutate


def ssh_option(key: str, value: str, *, allow: bool = False) -> Mutation:
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        host = data["hosts"]["old-ctl1"]
        host["ssh"] = {"options": {key: value}}
        if allow:
            host["allow_unsafe_ssh_options"] = True
    return mutate


def keepalived(**fields: Any) -> Mutation:
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        data["ha"]["keepalived"] = {"instance": "VI_1", "vip": "10.0.0.10/24",
                                    "old": ["old-ctl1"], "new": ["new-ctl1"], **fields}
    return mutate


def text_edit(old: str, new: str) -> Mutation:
    """Marks a case whose mutation is on the YAML text (duplicate keys)."""
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        data["__text__"] = (old, new)
    return mutate


def password_file_with(content: str, field: str = "password_file") -> Mutation:
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        file = tmp / "bad.password"
        file.write_text(content)
        database = data["old"]["database"]
        database.pop("password_file")
        database[field] = str(file)
    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        for each in mutations:
            each(data, tmp)
    return mutate


INLINE_PASSWORD = put("old.database.password", INLINE_SECRET)

# (case id, mutation, field the error must name)
CASES: list[tuple[str, Mutation, str]] = [
    # duplicate YAML keys (the last one used to win silently)
    ("duplicate-top-level-key", text_edit("environment: minimal\n",
                                          "environment: minimal\nenvironment: other\n"),
     "environment"),
    ("duplicate-nested-key", text_edit("    port: 3306\n", "    port: 3306\n    port: 3307\n"),
     "old.database.port"),
    # one machine, two names
    ("two-hosts-one-address", put("hosts.lb2", {"address": "10.0.0.5"}), "hosts.lb2.address"),
    ("two-hosts-one-address-case-and-dot",
     both(put("hosts.old-ctl1.address", "CTL1.example.org."),
          put("hosts.new-ctl1.address", "ctl1.example.org")), "hosts.new-ctl1.address"),
    ("two-netns-hosts-one-namespace",
     both(put("hosts.lb1", {"address": "10.0.0.5", "transport": "netns", "netns": "sbs-lb"}),
          put("hosts.lb2", {"address": "10.0.0.6", "transport": "netns", "netns": "sbs-lb"})),
     "hosts.lb2.address"),
    ("controller-listed-twice", put("old.controllers", ["old-ctl1", "old-ctl1"]),
     "old.controllers"),
    ("haproxy-node-listed-twice", put("ha.haproxy.nodes", [{"host": "lb1"}, {"host": "lb1"}]),
     "ha.haproxy.nodes"),
    ("server-in-old-and-new-of-a-backend",
     put("ha.haproxy.backends.keystone.new", ["new-ctl1", "old-ctl1"]),
     "ha.haproxy.backends.keystone.new"),
    # old and new database: one server under two names
    ("database-localhost-and-127", both(put("old.database.host", "127.0.0.1"),
                                        put("new.database.host", "localhost")),
     "new.database"),
    ("database-trailing-dot", put("new.database.host", "10.0.0.11."), "new.database"),
    ("database-name-case-and-dot", both(put("old.database.host", "DB1.Example"),
                                        put("new.database.host", "db1.example.")),
     "new.database"),
    ("database-ipv6-spellings", both(put("old.database.host", "::1"),
                                     put("new.database.host", "0:0:0:0:0:0:0:1")),
     "new.database"),
    ("database-same-socket", both(put("old.database.socket", "/run/mysqld/mysqld.sock"),
                                  put("new.database.socket", "/run/mysqld//mysqld.sock")),
     "new.database"),
    # VIP and HAProxy/keepalived/netns grammar
    ("vip-not-an-address", keepalived(vip="10.0.0.300/24"), "ha.keepalived.vip"),
    ("vip-a-word", keepalived(vip="the-vip"), "ha.keepalived.vip"),
    ("vip-host-on-both-sides", keepalived(new=["new-ctl1", "old-ctl1"]), "ha.keepalived.new"),
    ("keepalived-track-file-relative", keepalived(track_file="track"),
     "ha.keepalived.track_file"),
    ("backend-name-with-space", put("ha.haproxy.backends.keystone.backend", "keystone api"),
     "ha.haproxy.backends.keystone.backend"),
    ("backend-name-with-semicolon", put("ha.haproxy.backends.glance.backend", "glance;reload"),
     "ha.haproxy.backends.glance.backend"),
    ("backend-named-twice", put("ha.haproxy.backends.glance.backend", "keystone_api"),
     "ha.haproxy.backends"),
    ("server-name-with-space", put("ha.haproxy.backends.keystone.new", ["new ctl1"]),
     "ha.haproxy.backends.keystone.new[0]"),
    ("write-freeze-map-relative", put("ha.haproxy.write_freeze", {"map": "sbs-freeze.map"}),
     "ha.haproxy.write_freeze.map"),
    ("haproxy-socket-relative", put("ha.haproxy.nodes", [{"host": "lb1", "socket": "adm.sock"}]),
     "ha.haproxy.nodes[0].socket"),
    ("write-freeze-map-a-number", put("ha.haproxy.write_freeze", {"map": 7}),
     "ha.haproxy.write_freeze.map"),
    ("haproxy-state-file-relative", put("ha.haproxy.state_file", "state"),
     "ha.haproxy.state_file"),
    ("netns-name-climbs", put("hosts.lb1", {"address": "10.0.0.5", "transport": "netns",
                                            "netns": "../etc"}), "hosts.lb1.netns"),
    ("netns-name-with-space", put("hosts.lb1", {"address": "10.0.0.5", "transport": "netns",
                                                "netns": "lb one"}), "hosts.lb1.netns"),
    # host names and addresses
    ("host-name-with-bang", put("hosts.bad!name", {"address": "10.0.0.99"}), "hosts.bad!name"),
    ("host-name-like-an-option", put("hosts.-oProxyCommand", {"address": "10.0.0.98"}),
     "hosts.-oProxyCommand"),
    ("address-like-an-option", put("hosts.old-ctl1.address", "-oProxyCommand=id"),
     "hosts.old-ctl1.address"),
    # ssh options that weaken host keys or run commands
    ("ssh-strict-host-key-checking-no", ssh_option("StrictHostKeyChecking", "no"),
     "hosts.old-ctl1.ssh.options.StrictHostKeyChecking"),
    ("ssh-strict-host-key-checking-accept-new", ssh_option("StrictHostKeyChecking", "accept-new"),
     "hosts.old-ctl1.ssh.options.StrictHostKeyChecking"),
    ("ssh-known-hosts-dev-null", ssh_option("UserKnownHostsFile", "/dev/null"),
     "hosts.old-ctl1.ssh.options.UserKnownHostsFile"),
    ("ssh-proxy-command", ssh_option("ProxyCommand", "nc %h %p"),
     "hosts.old-ctl1.ssh.options.ProxyCommand"),
    ("ssh-local-command", ssh_option("LocalCommand", "touch /tmp/x"),
     "hosts.old-ctl1.ssh.options.LocalCommand"),
    ("ssh-permit-local-command", ssh_option("PermitLocalCommand", "yes"),
     "hosts.old-ctl1.ssh.options.PermitLocalCommand"),
    ("ssh-known-hosts-command", ssh_option("KnownHostsCommand", "/bin/true"),
     "hosts.old-ctl1.ssh.options.KnownHostsCommand"),
    ("ssh-option-name-smuggles-an-argument", ssh_option("Port=22 -oProxyCommand", "x"),
     "hosts.old-ctl1.ssh.options.Port=22 -oProxyCommand"),
    ("ssh-batch-mode-off-even-when-allowed", ssh_option("BatchMode", "no", allow=True),
     "hosts.old-ctl1.ssh.options.BatchMode"),
    ("ssh-known-hosts-file-missing", put("hosts.old-ctl1.ssh", {"known_hosts": "/nonexistent"}),
     "hosts.old-ctl1.ssh.known_hosts"),
    # numbers
    ("duration-infinite", put("window.max_downtime", float("inf")), "window.max_downtime"),
    ("duration-not-a-number", put("window.drain_timeout", float("nan")), "window.drain_timeout"),
    ("duration-negative", put("window.queue_timeout", -5), "window.queue_timeout"),
    ("ssh-connect-timeout-zero", put("window.ssh_connect_timeout", 0),
     "window.ssh_connect_timeout"),
    ("port-true", put("old.database.port", True), "old.database.port"),
    ("ssh-port-true", put("hosts.old-ctl1.ssh", {"port": True}), "hosts.old-ctl1.ssh.port"),
    ("port-as-string", put("new.database.port", "3306"), "new.database.port"),
    # secret references
    ("empty-password-file", put("old.database.password_file", ""),
     "old.database.password_file"),
    ("empty-password-env", put("new.database.password_env", " "), "new.database.password_env"),
    ("inline-password", INLINE_PASSWORD, "old.database.password"),
    ("inline-password-and-bad-port", both(INLINE_PASSWORD, put("old.database.port", 0)),
     "old.database.port"),
    ("password-file-missing", put("old.database.password_file", "/nonexistent/pw"),
     "old.database.password_file"),
    ("password-file-empty", password_file_with("\n"), "old.database.password_file"),
    ("password-env-unset", put("new.database.password_env", "SBS_CORPUS_UNSET_VARIABLE"),
     "new.database.password_env"),
    ("option-file-is-a-plain-password-file", password_file_with(INLINE_SECRET + "\n",
                                                                "option_file"),
     "old.database.option_file"),
    # the rest of the model
    ("vip-cloud-is-the-old-cloud", put("ha.vip_cloud", "old"), "ha.vip_cloud"),
    ("counterpart-not-an-old-controller", put("new.counterparts", {"new-ctl1": "nope"}),
     "new.counterparts.new-ctl1"),
    ("counterpart-not-a-new-controller", put("new.counterparts", {"old-ctl1": "old-ctl1"}),
     "new.counterparts.old-ctl1"),
    ("database-tls-cert-without-key", put("old.database.tls", {"ca": "/etc/ca.pem",
                                                               "cert": "/etc/c.pem"}),
     "old.database.tls"),
]

COMMANDS = (["plan", "prepare"], ["check"], ["prepare", "--dry-run"])


def write_case(tmp: Path, mutation: Mutation) -> Path:
    data = good_base(tmp)
    mutation(data, tmp)
    edit = data.pop("__text__", None)
    text = yaml.safe_dump(data, sort_keys=False)
    if edit:
        old, new = edit
        assert old in text, f"the base has no {old!r} to edit"
        text = text.replace(old, new, 1)
    file = tmp / "bad inventory.yaml"  # a blank in the name: it must still be named whole
    file.write_text(text)
    return file


def run_in_process(args: list[str], capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["sbs", *args])
    with pytest.raises(SystemExit) as done:
        cli_main.run()
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def flat(text: str) -> str:
    """Output without the line breaks and blanks a terminal width adds."""
    return re.sub(r"\s+", "", text)


def assert_refused(code: int, out: str, err: str, file: Path, field: str, state: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in out + err
    assert flat(f"{file}: {field}:") in flat(err), err
    for secret in SECRETS:
        assert secret not in out + err
    assert not state.exists()


def test_the_corpus_is_big_enough_and_every_case_is_different() -> None:
    assert len(CASES) >= 40
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


def test_the_good_base_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Without this, every case could be refused for a reason the base already has.
    monkeypatch.setenv(PASSWORD_ENV, ENV_PASSWORD)
    file = write_case(tmp_path, lambda data, tmp: None)
    code, out, err = run_in_process(["plan", "prepare", "-i", str(file), "--state-dir",
                                     str(tmp_path / "state")], capsys, monkeypatch)
    assert code == 0, err
    assert not any(secret in out + err for secret in SECRETS)


@pytest.mark.parametrize("case_id,mutation,field", CASES, ids=[c[0] for c in CASES])
def test_malformed_inventory_is_refused_by_every_command(
        case_id: str, mutation: Mutation, field: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ENV_PASSWORD)
    monkeypatch.setenv("COLUMNS", "400")
    file = write_case(tmp_path, mutation)
    state = tmp_path / "state"
    for command in COMMANDS:
        code, out, err = run_in_process([*command, "-i", str(file), "--state-dir", str(state)],
                                        capsys, monkeypatch)
        assert_refused(code, out, err, file, field, state)


def leaf_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in leaf_paths(value, (*prefix, key))]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in leaf_paths(value, (*prefix, i))]
    return [prefix]


ODD_VALUES = [None, True, 7, -1, 1.5, float("inf"), "", " ", "-x", "x" * 300, [], {},
              ["a"], {"a": 1}]


def test_no_value_anywhere_makes_the_loader_crash(tmp_path: Path) -> None:
    """Any odd value at any field is an InventoryError (exit 2), never another exception
    (a traceback)."""
    from sidebyside.errors import InventoryError
    from sidebyside.inventory import parse_inventory

    base = good_base(tmp_path)
    refused = 0
    for path in leaf_paths(base):
        for value in ODD_VALUES:
            data = copy.deepcopy(base)
            node: Any = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = copy.deepcopy(value)
            try:
                parse_inventory(data, "fuzz.yaml")
            except InventoryError:
                refused += 1
    assert refused > len(leaf_paths(base)) * len(ODD_VALUES) // 2
