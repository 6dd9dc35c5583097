"""Inventory validation: every malformed inventory names the file and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.errors import InventoryError
from sidebyside.inventory import load_inventory, parse_duration, parse_inventory, resolve_password
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def base() -> dict[str, Any]:
    data: dict[str, Any] = example_inventory("minimal.yaml")
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

# (mutation path, new value, expected field in the error, words expected in the message)
MALFORMED = [
    ("environment", _DELETE, "environment", "required"),
    ("environment", "Bad Name", "environment", "lowercase"),
    ("release", _DELETE, "release", "required"),
    ("release.from", "zed", "release.from", "not a release"),
    ("release.to", 2026.1, "release.to", "not a release"),  # unquoted YAML float is ok-ish
    ("release.to", "2024.1", "release", "strictly increase"),
    ("release.to", "2027.1", "release.to", "not an upgrade upstream supports"),
    ("release.via", "2025.2", "release.via", "list"),
    ("services", ["keystone", "swift"], "services", "unknown service 'swift'"),
    ("services", [], "services", "at least 1"),
    ("services", ["keystone", "keystone"], "services", "twice"),
    ("hosts", _DELETE, "hosts", "required"),
    ("hosts.old-ctl1.transport", "telnet", "hosts.old-ctl1.transport", "local"),
    ("hosts.old-ctl1.transport", "netns", "hosts.old-ctl1", "netns"),
    ("hosts.old-ctl1.ssh", {"port": 70000}, "hosts.old-ctl1.ssh.port", "65535"),
    ("hosts.old-ctl1.colour", "red", "hosts.old-ctl1.colour", "unknown key"),
    ("hosts.old-ctl1.root", "relative/dir", "hosts.old-ctl1", "absolute"),
    ("old.controllers", ["nope"], "old.controllers[0]", "not defined"),
    ("new.controllers", ["old-ctl1"], "new.controllers", "both the old and the new"),
    ("old.controllers", [], "old.controllers", "at least 1"),
    ("old.database.port", "three", "old.database.port", "integer"),
    ("old.database.port", 0, "old.database.port", "greater than or equal"),
    ("old.database.password", "hunter22", "old.database.password", "inline passwords"),
    ("old.database.password_env", "X", "old.database", "only one"),
    ("old.database", _DELETE, "old.database", "required"),
    ("new.database.host", "10.0.0.11", "new.database", "separate server"),
    ("new.cloud", "old", "new.cloud", "different clouds"),
    ("old.services.keystone", {"units": ["a"], "containers": ["b"]}, "old.services.keystone",
     "exactly one"),
    ("old.services.keystone", {"stop": "x"}, "old.services.keystone", "go together"),
    ("old.services.nova", {"units": ["nova-api"]}, "old.services.nova",
     "not in the top-level services"),
    ("new.services", {"keystone": {"units": ["apache2"]}}, "new.services",
     "no stop/start control given for service 'glance'"),
    ("ha", {}, "ha", "haproxy or keepalived"),
    ("ha.haproxy.nodes", [{"host": "lb9"}], "ha.haproxy.nodes[0].host", "not defined"),
    ("ha.haproxy.backends.keystone.old", [], "ha.haproxy.backends.keystone.old", "at least 1"),
    ("ha.haproxy.backends", {"keystone": {"backend": "k", "old": ["a"], "new": ["b"]}},
     "ha.haproxy.backends", "no backend given for service 'glance'"),
    ("window.max_downtime", "soon", "window.max_downtime", "not a duration"),
    ("deploy", {"command": "x", "ansible": {"playbook": "p", "inventory": "i"}}, "deploy",
     "exactly one"),
]


@pytest.mark.parametrize("path,value,field,words", MALFORMED,
                         ids=[f"{m[0]}=" + ("<deleted>" if m[1] is _DELETE else repr(m[1]))[:40]
                              for m in MALFORMED])
def test_malformed_inventory_names_file_and_field(tmp_path: Path, path: str, value: Any,
                                                  field: str, words: str) -> None:
    data = base()
    _set(data, path, value if value is _DELETE else copy.deepcopy(value))
    file = tmp_path / "inv.yaml"
    file.write_text(yaml.safe_dump(data))
    if path == "release.to" and value == 2026.1:
        # YAML float 2026.1 is accepted as the release "2026.1": the same as quoted
        load_inventory(file)
        return
    with pytest.raises(InventoryError) as info:
        load_inventory(file)
    err = info.value
    assert err.exit_code == 2
    fields = [p for p, _ in err.problems]
    assert field in fields, err.message
    assert any(words in what for p, what in err.problems if p == field), err.message
    assert str(file) in err.message


def test_example_inventories_are_valid() -> None:
    for name in ("minimal.yaml", "production.yaml"):
        inv = load_inventory(EXAMPLES / name)
        assert inv.ordered_services[0] == "keystone"


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="file not found"):
        load_inventory(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("environment: [unclosed\n")
    with pytest.raises(InventoryError, match=r"line \d+, column \d+: not valid YAML"):
        load_inventory(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(InventoryError, match="must be a YAML mapping"):
        load_inventory(scalar)


def test_all_problems_reported_at_once() -> None:
    data = base()
    data["services"] = ["keystone", "glance", "swift"]
    data["old"]["database"]["port"] = "x"
    with pytest.raises(InventoryError) as info:
        parse_inventory(data, "inv.yaml")
    fields = {p for p, _ in info.value.problems}
    assert {"services", "old.database.port"} <= fields


def test_unreadable_password_file_checked_only_when_asked(tmp_path: Path) -> None:
    file = tmp_path / "inv.yaml"
    file.write_text(yaml.safe_dump(base()))
    load_inventory(file)  # plan does not need secrets
    with pytest.raises(InventoryError) as info:
        load_inventory(file, check_secrets=True)
    fields = [p for p, _ in info.value.problems]
    assert "old.database.password_file" in fields
    assert "new.database.password_env" in fields


def test_resolved_password_is_registered_for_redaction(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sidebyside.redact import redact

    secret_file = tmp_path / "pw"
    secret_file.write_text("Zq9-very-secret\n")
    data = base()
    data["old"]["database"]["password_file"] = str(secret_file)
    monkeypatch.setenv("SBS_NEW_DB_PASSWORD", "another-Secret-7")
    inv = parse_inventory(data)
    assert resolve_password(inv.old.database) == "Zq9-very-secret"
    assert resolve_password(inv.new.database) == "another-Secret-7"
    assert "Zq9-very-secret" not in redact("connecting with Zq9-very-secret now")
    option_file = tmp_path / "my.cnf"
    option_file.write_text("[client]\nuser=root\npassword='opt-File-pw'\n")
    data["old"]["database"] = {"host": "h", "option_file": str(option_file)}
    assert resolve_password(parse_inventory(data).old.database) == "opt-File-pw"


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("90s", 90), ("1h30m", 5400),
                                          (45, 45), ("2h", 7200), ("10", 10)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_via_path_accepted_for_skip_of_two_slurps() -> None:
    data = base()
    data["release"] = {"from": "2024.1", "to": "2026.1", "via": ["2025.1"]}
    inv = parse_inventory(data)
    assert inv.release.path == ["2025.1", "2026.1"]
