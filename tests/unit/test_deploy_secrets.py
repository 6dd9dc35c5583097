"""deploy.ansible's secrets: extra_vars values registered, artifacts redacted and marked,
an interrupted run's leftovers removed before the next run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidebyside.deploy.ansible import REDACTED_MARK, _redact_artifacts, remove_interrupted_runs
from sidebyside.deploy.model import register_extra_var_secrets
from sidebyside.redact import MASK, forget_secrets, redact
from tests.unit.test_deploy_action import ansible_deploy, plan_of, site


@pytest.fixture(autouse=True)
def _clean() -> None:
    forget_secrets()
    yield
    forget_secrets()


def test_every_string_of_the_operators_extra_vars_is_registered() -> None:
    register_extra_var_secrets({"site_token": "tok-123456", "db": {"users": ["u1", "pw9"]},
                                "sbs_release_to": "2099.1", "replicas": 3, "debug": True})
    out = redact("token tok-123456, user u1 pw9, release 2099.1, 3 replicas, debug True")
    assert out == "token ***, user *** ***, release 2099.1, 3 replicas, debug True"


def test_planning_a_deploy_registers_its_extra_vars(tmp_path: Path) -> None:
    plan_of(site(tmp_path), ansible_deploy(extra_vars={"vault_pw": "S1te-Vault-pw"}))
    assert redact("ansible printed S1te-Vault-pw") == "ansible printed ***"


def _artifact(private: Path, ident: str, *, marked: bool) -> Path:
    run = private / "artifacts" / ident
    (run / "job_events").mkdir(parents=True)
    (run / "stdout").write_text("ok: site_token=Zq7-leaked\n")
    if marked:
        (run / REDACTED_MARK).touch()
    return run


def test_an_interrupted_runs_artifacts_and_extravars_are_removed(tmp_path: Path) -> None:
    private = tmp_path / "deploy" / "ansible"
    finished = _artifact(private, "prepare.deploy-run1", marked=True)
    killed = _artifact(private, "prepare.deploy-run2", marked=False)
    (private / "env").mkdir()
    (private / "env" / "extravars").write_text('{"site_token": "Zq7-leaked"}')
    lines = remove_interrupted_runs(private)
    assert not killed.exists() and finished.exists()
    assert not (private / "env" / "extravars").exists()
    assert lines == ["removed the artifacts of interrupted ansible run prepare.deploy-run2 "
                     "(never redacted)"]
    assert remove_interrupted_runs(private) == []


def test_artifacts_are_redacted_events_included_and_marked(tmp_path: Path) -> None:
    from sidebyside.redact import register_secret

    register_secret("Zq7-leaked")
    run = _artifact(tmp_path, "r1", marked=False)
    (run / "job_events" / "1-abc.json").write_text(json.dumps(
        {"event": "runner_on_ok", "stdout": "token Zq7-leaked",
         "event_data": {"res": {"password": "pw", "msg": "Zq7-leaked"}}}))
    (run / "job_events" / "2-cut.json").write_text('{"stdout": "Zq7-leaked')
    (run / "command").write_text(json.dumps({"command": ["ansible-playbook"],
                                             "env": {"DB_PASSWORD": "x"}}))
    _redact_artifacts(run)
    for path in run.rglob("*"):
        if path.is_file():
            assert b"Zq7-leaked" not in path.read_bytes(), path
    event = json.loads((run / "job_events" / "1-abc.json").read_text())
    assert event["event_data"]["res"] == {"password": MASK, "msg": MASK}
    assert "env" not in json.loads((run / "command").read_text())
    assert (run / REDACTED_MARK).exists()
