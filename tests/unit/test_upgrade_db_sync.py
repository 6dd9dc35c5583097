"""db_sync stage semantics, driven through LocalHost against small stand-in
`*-manage` scripts (real processes, exit codes and output; no database needed).

The scripts keep their state in a file so that a check answers what the previous
stage did, as keystone-manage and glance-manage do against a real database.
"""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from sidebyside.remote.local import LocalHost
from sidebyside.services.catalog import service
from sidebyside.upgrade.commands import CommandFailed
from sidebyside.upgrade.db_sync import read_check, run_db_sync

KEYSTONE_MANAGE = r"""#!/bin/sh
# stand-in for keystone-manage: state is expand-needed -> contract-needed -> current
state_file="$(dirname "$0")/state"
state="$(cat "$state_file" 2>/dev/null || echo expand)"
echo "$0 $*" >> "$(dirname "$0")/calls"
case "$*" in
  *--check)
    case "$state" in
      expand) exit 2;; migrate) exit 3;; contract) exit 4;; current) exit 0;;
      broken) echo "DB error: boom" >&2; exit 1;;
    esac;;
  *--expand) [ "$state" = expand ] && echo contract > "$state_file"; echo expanded;;
  *--migrate) echo contract > "$state_file";;
  *--contract) [ "$state" = contract ] && echo current > "$state_file"; echo contracted;;
  *--stuck) ;;
esac
exit 0
"""

NOVA_MANAGE = r"""#!/bin/sh
dir="$(dirname "$0")"
echo "$*" >> "$dir/calls"
case "$*" in
  *online_data_migrations)
    n="$(cat "$dir/rounds" 2>/dev/null || echo 0)"; n=$((n + 1)); echo "$n" > "$dir/rounds"
    limit="$(cat "$dir/limit")"
    if [ "$n" -lt "$limit" ]; then echo "migrated 50 rows, more to do"; exit 1; fi
    echo "nothing left"; exit 0;;
  *"api_db sync") [ -f "$dir/slow" ] && sleep 5;;
  *"db sync")
    if [ -f "$dir/fail-sync" ]; then
      for i in $(seq 1 40); do echo "line $i"; done
      echo "password = hunter2secret" >&2
      echo "sqlalchemy OperationalError (1045)" >&2
      exit 1
    fi;;
esac
exit 0
"""


def _bin(tmp_path: Path, name: str, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def test_keystone_check_codes_decide_the_stages() -> None:
    check = service("keystone").db_sync[0]
    assert read_check(check, 0, "").current
    assert read_check(check, 2, "").next_stage == "expand"
    assert read_check(check, 3, "").next_stage == "migrate"
    assert read_check(check, 4, "").next_stage == "contract"
    assert read_check(check, 1, "").error  # 1 = error
    glance = service("glance").db_sync[0]
    assert read_check(glance, 3, "").next_stage == "expand"
    assert read_check(glance, 5, "").next_stage == "contract"
    assert read_check(glance, 2, "usage: error: invalid choice: 'check'").use_fallback


def test_keystone_expand_then_contract_then_current(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "keystone-manage", KEYSTONE_MANAGE)
    lines: list[str] = []
    result = run_db_sync(LocalHost(), service("keystone"), "2026.1", str(bin_dir),
                         str(tmp_path / "etc"), lines.append)
    assert [(s.name, s.returncodes) for s in result.stages] == [
        ("check", [2]), ("expand", [0]), ("check", [4]), ("contract", [0]), ("check", [0])]
    assert (bin_dir / "state").read_text().strip() == "current"
    assert set(result.durations()) == {"check", "expand", "contract"}
    assert result.to_dict()["stages"][1]["command"].endswith("db_sync --expand")
    assert any("expanded" in line for line in lines)


def test_keystone_already_current_runs_only_the_check(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "keystone-manage", KEYSTONE_MANAGE)
    (bin_dir / "state").write_text("current\n")
    result = run_db_sync(LocalHost(), service("keystone"), "2026.1", str(bin_dir), "/etc",
                         lambda line: None)
    assert [s.name for s in result.stages] == ["check"]


def test_keystone_check_error_fails_fast_with_the_tail(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "keystone-manage", KEYSTONE_MANAGE)
    (bin_dir / "state").write_text("broken\n")
    with pytest.raises(CommandFailed) as err:
        run_db_sync(LocalHost(), service("keystone"), "2026.1", str(bin_dir), "/etc",
                    lambda line: None)
    assert err.value.exit_code == 4
    assert "DB error: boom" in err.value.message
    assert "exited 1" in err.value.message


def test_a_stage_without_effect_is_not_retried_forever(tmp_path: Path) -> None:
    # --expand that changes nothing: the check keeps saying 2
    script = KEYSTONE_MANAGE.replace('[ "$state" = expand ] && echo contract > "$state_file"; ',
                                     "")
    bin_dir = _bin(tmp_path, "keystone-manage", script)
    with pytest.raises(CommandFailed, match="still needs expand"):
        run_db_sync(LocalHost(), service("keystone"), "2026.1", str(bin_dir), "/etc",
                    lambda line: None)


def test_nova_online_migrations_until_rc_0(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "nova-manage", NOVA_MANAGE)
    (bin_dir / "limit").write_text("3\n")
    result = run_db_sync(LocalHost(), service("nova"), "2025.1", str(bin_dir), "/etc",
                         lambda line: None)
    stages = {s.name: s for s in result.stages}
    assert [s.name for s in result.stages] == ["api_db_sync", "db_sync",
                                               "online_data_migrations"]
    assert stages["online_data_migrations"].returncodes == [1, 1, 0]
    calls = (bin_dir / "calls").read_text().splitlines()
    assert calls[0].endswith("api_db sync") and calls[1].endswith("db sync")


def test_nova_online_migrations_are_bounded(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "nova-manage", NOVA_MANAGE)
    (bin_dir / "limit").write_text("1000\n")
    info = service("nova")
    bounded = replace(info, db_sync=tuple(
        replace(s, max_rounds=4) if s.name == "online_data_migrations" else s
        for s in info.db_sync))
    with pytest.raises(CommandFailed, match="after 4 rounds"):
        run_db_sync(LocalHost(), bounded, "2025.1", str(bin_dir), "/etc", lambda line: None)


def test_failure_carries_a_redacted_tail_and_stops(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "nova-manage", NOVA_MANAGE)
    (bin_dir / "fail-sync").write_text("")
    with pytest.raises(CommandFailed) as err:
        run_db_sync(LocalHost(), service("nova"), "2025.1", str(bin_dir), "/etc",
                    lambda line: None)
    message = err.value.message
    assert "OperationalError (1045)" in message
    assert "hunter2secret" not in message
    assert "line 1\n" not in message  # only the tail
    assert "online_data_migrations" not in (bin_dir / "calls").read_text()


def test_timeout_is_a_command_failure(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, "nova-manage", NOVA_MANAGE)
    (bin_dir / "slow").write_text("")
    info = service("nova")
    quick = replace(info, db_sync=tuple(replace(s, timeout=0.5) for s in info.db_sync))
    with pytest.raises(CommandFailed, match="timed out"):
        run_db_sync(LocalHost(), quick, "2025.1", str(bin_dir), "/etc", lambda line: None)
