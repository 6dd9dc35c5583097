"""Deploy as data: sbs's variables, merging, fingerprints, and reading ansible-runner events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sidebyside.deploy.model import (
    EventDigest,
    command_environment,
    fingerprint,
    limit_for,
    merge_extra_vars,
    resolve_path,
    sbs_vars,
)
from sidebyside.inventory import parse_inventory
from sidebyside.lab.deploy_adapter import LAB_PLAYBOOK, LabAnsibleHost, render_lab_inventory
from sidebyside.redact import forget_secrets, register_secret

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml"


def inventory(**changes: Any):  # type: ignore[no-untyped-def]
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(changes)
    return parse_inventory(data, "/etc/sbs/minimal.yaml")


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": data, "stdout": ""}


def test_sbs_vars_name_target_release_database_and_new_controllers() -> None:
    inv = inventory(release={"from": "2024.1", "to": "2026.1", "via": ["2025.1"]})
    provided = sbs_vars(inv, python="/usr/bin/python3")
    assert provided["sbs_release_to"] == "2026.1"
    assert provided["sbs_releases"] == ["2025.1", "2026.1"]
    assert provided["sbs_release_via"] == ["2025.1"]
    assert (provided["sbs_new_db_host"], provided["sbs_new_db_port"]) == ("10.0.0.12", 3306)
    assert provided["sbs_environment"] == "minimal"
    assert provided["sbs_new_controllers"] == ["new-ctl1"]
    assert provided["sbs_hosts"] == {"new-ctl1": {"address": "10.0.0.12", "root": "/"}}


def test_operator_extra_vars_win_and_overrides_are_named() -> None:
    merged, overridden = merge_extra_vars({"sbs_release_to": "2026.1", "sbs_x": 1},
                                          {"sbs_release_to": "2025.2", "site": "a",
                                           "sbs_x": 1})
    assert merged == {"sbs_release_to": "2025.2", "sbs_x": 1, "site": "a"}
    assert overridden == ["sbs_release_to"]


def test_command_environment_flattens_lists_and_tables() -> None:
    env = command_environment({"sbs_releases": ["2025.1", "2026.1"], "sbs_new_db_port": 3306,
                               "sbs_hosts": {"b": {"root": "/"}}})
    assert env == {"SBS_RELEASES": "2025.1 2026.1", "SBS_NEW_DB_PORT": "3306",
                   "SBS_HOSTS": '{"b": {"root": "/"}}'}


def test_fingerprint_is_stable_and_sensitive_to_every_part() -> None:
    base = {"playbook": "/p.yml", "playbook_sha256": "aa", "limit": "new",
            "extra_vars": {"a": 1, "b": [1, 2]}}
    same = {"extra_vars": {"b": [1, 2], "a": 1}, "limit": "new", "playbook_sha256": "aa",
            "playbook": "/p.yml"}
    assert fingerprint("ansible", base) == fingerprint("ansible", same)
    for key, value in (("playbook_sha256", "ab"), ("limit", "all"),
                       ("extra_vars", {"a": 2, "b": [1, 2]})):
        assert fingerprint("ansible", {**base, key: value}) != fingerprint("ansible", base)
    assert fingerprint("command", base) != fingerprint("ansible", base)


def test_relative_paths_follow_the_inventory_file() -> None:
    assert resolve_path("deploy/site.yml", "/etc/sbs/inv.yaml") == "/etc/sbs/deploy/site.yml"
    assert resolve_path("/srv/site.yml", "/etc/sbs/inv.yaml") == "/srv/site.yml"
    assert resolve_path("~/site.yml", "/etc/sbs/inv.yaml") == str(Path.home() / "site.yml")


def test_limit_defaults_to_exactly_the_new_controllers() -> None:
    assert limit_for(None, ["new-ctl1", "new-ctl2"]) == "new-ctl1,new-ctl2"
    assert limit_for("new", ["new-ctl1"]) == "new"


def test_digest_logs_tasks_and_host_results() -> None:
    digest = EventDigest()
    lines = []
    for e in [event("playbook_on_play_start", play="Deploy"),
              event("playbook_on_task_start", task="Make dirs"),
              event("runner_on_ok", host="n1", task="Make dirs", res={"changed": True}),
              event("runner_on_ok", host="n2", task="Make dirs", res={"changed": False}),
              event("runner_on_skipped", host="n3", task="Make dirs")]:
        lines += digest.feed(e)
    assert lines == ["PLAY [Deploy]", "TASK [Make dirs]", "  n1: changed", "  n2: ok",
                     "  n3: skipped"]
    assert digest.hosts["n1"].changed == 1 and digest.hosts["n2"].ok == 1
    assert digest.failures == []


def test_digest_names_failing_task_host_and_message() -> None:
    digest = EventDigest()
    digest.feed(event("runner_on_failed", host="new-ctl2", task="Install venvs",
                      res={"msg": "non-zero return code", "rc": 2,
                           "stderr": "line one\nlab_install: no lock file for 2099.1"}))
    assert len(digest.failures) == 1
    message = digest.failure_message("failed", 2)
    assert message.startswith("task 'Install venvs' failed on host new-ctl2: ")
    assert "rc=2" in message and "no lock file for 2099.1" in message
    assert digest.hosts["new-ctl2"].failed == 1


def test_digest_prefers_the_failing_item_over_ansibles_summary() -> None:
    digest = EventDigest()
    digest.feed(event("runner_item_on_failed", host="h", task="Loop",
                      res={"item": "b", "msg": "b is broken"}))
    digest.feed(event("runner_on_failed", host="h", task="Loop",
                      res={"msg": "One or more items failed", "results": []}))
    assert digest.failures[0].message == "item 'b': b is broken"


def test_digest_keeps_ignored_failures_apart_and_reports_unreachable() -> None:
    digest = EventDigest()
    lines = digest.feed(event("runner_on_failed", host="h", task="Optional",
                              ignore_errors=True, res={"msg": "meh"}))
    assert lines == ["  h: FAILED (ignored): meh"] and digest.failures == []
    digest.feed(event("runner_on_unreachable", host="h2", task="Gather",
                      res={"msg": "ssh: connect to host 127.0.0.99 port 22: refused"}))
    assert digest.failures[0].unreachable
    assert "unreachable on host h2: ssh: connect" in digest.failure_message("failed", 4)


def test_stats_recap_is_authoritative() -> None:
    digest = EventDigest()
    digest.feed(event("runner_on_ok", host="h", task="t", res={}))
    lines = digest.feed(event("playbook_on_stats", ok={"h": 5}, changed={"h": 2},
                              failures={}, dark={}, skipped={"h": 1}))
    assert lines == ["RECAP h: ok=5 changed=2 failed=0 unreachable=0 skipped=1"]
    assert digest.summary()["h"]["ok"] == 5


def test_failure_without_task_uses_ansibles_own_output() -> None:
    digest = EventDigest()
    digest.feed({"event": "verbose", "event_data": {},
                 "stdout": "ERROR! the playbook: /x.yml could not be found"})
    assert "could not be found" in digest.failure_message("failed", 1)
    digest = EventDigest()
    digest.feed(event("playbook_on_no_hosts_matched"))
    assert digest.failure_message("failed", 1) == "no hosts matched the inventory and limit"


def test_secrets_in_events_are_redacted() -> None:
    register_secret("db-Pa55-w0rd")
    try:
        digest = EventDigest()
        lines = digest.feed(event("runner_on_failed", host="h", task="t",
                                  res={"msg": "access denied for db-Pa55-w0rd"}))
        assert "db-Pa55-w0rd" not in " ".join(lines)
        assert "db-Pa55-w0rd" not in digest.failure_message("failed", 2)
    finally:
        forget_secrets()


def test_lab_inventory_template_renders_local_and_ssh_hosts() -> None:
    text = render_lab_inventory([
        LabAnsibleHost("new-ctl1", "127.0.0.12", "/lab/new"),
        LabAnsibleHost("new-ctl2", "127.0.0.13", "/lab/new2", connection="ssh", port=2222,
                       user="root", identity="/k/id", known_hosts="/k/known_hosts")])
    hosts = yaml.safe_load(text)["all"]["children"]["new"]["hosts"]
    assert hosts["new-ctl1"] == {"ansible_host": "127.0.0.12", "ansible_connection": "local",
                                 "sbs_root": "/lab/new"}
    ssh = hosts["new-ctl2"]
    assert ssh["ansible_connection"] == "ssh" and ssh["ansible_port"] == 2222
    assert ssh["ansible_ssh_private_key_file"] == "/k/id"
    assert "UserKnownHostsFile=/k/known_hosts" in ssh["ansible_ssh_common_args"]
    assert LAB_PLAYBOOK.is_file()
