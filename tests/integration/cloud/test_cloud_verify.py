"""Smoke, parity, comparison and the verification steps against two real keystones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from sidebyside.actions import ActionSet
from sidebyside.cli.verify import register
from sidebyside.cloud.connection import connect
from sidebyside.cloud.smoke import run_smoke, snapshot
from sidebyside.cloud.verify import Clouds, compare_sides, parity_sides, run_verify
from sidebyside.engine.environment import Environment
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal
from sidebyside.errors import InputError, UnreachableError, VerificationError
from sidebyside.inventory import load_inventory
from sidebyside.plan.model import Changes, Step
from sidebyside.remote.local import LocalHost
from tests.integration.cloud.conftest import ADDRESS, NEW_RELEASE, OLD_RELEASE, Keystones

pytestmark = pytest.mark.integration


@pytest.fixture
def clouds(keystones: Keystones) -> Iterator[Clouds]:
    opened = Clouds(load_inventory(keystones.inventory), retry_budget=0)
    yield opened
    opened.close()


@pytest.fixture
def project_on_new_only(clouds: Clouds) -> Iterator[str]:
    conn = clouds("new")
    project = conn.identity.create_project(name=f"it-only-new-{uuid.uuid4().hex[:8]}",
                                           domain_id="default")
    yield str(project.id)
    conn.identity.delete_project(project.id)


def test_the_two_sides_run_different_keystone_releases(keystones: Keystones,
                                                       clouds: Clouds) -> None:
    for side, release in (("old", OLD_RELEASE), ("new", NEW_RELEASE)):
        pid = (keystones.root / f"{side}.pid").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert f"/keystone-{release}-" in cmdline
        assert clouds(side).session.get_token()


def test_smoke_passes_on_the_old_side(clouds: Clouds) -> None:
    report = run_smoke(clouds("old"), ["keystone"], side="old", cloud="it-old")
    assert report.ok, report.summary()
    checks = {c.name: c for c in report.checks}
    assert set(checks) == {"token", "catalog", "projects", "users", "roles", "groups"}
    assert all(c.status == "pass" for c in checks.values())
    assert checks["catalog"].detail.endswith("identity")
    assert checks["projects"].detail.startswith(("1 ", "2 ", "3 "))


def test_a_named_service_without_an_endpoint_fails(clouds: Clouds) -> None:
    report = run_smoke(clouds("old"), ["keystone", "glance"], side="old", cloud="it-old")
    (glance,) = [c for c in report.checks if c.service == "glance"]
    assert glance.status == "fail"
    assert "no image endpoint in the catalog of cloud it-old" in glance.detail
    assert not report.ok


def test_a_service_the_inventory_says_is_database_only_is_skipped(clouds: Clouds) -> None:
    why = "inventory: old.services.glance.api is false"
    report = run_smoke(clouds("old"), ["keystone", "glance"], side="old", cloud="it-old",
                       database_only={"glance": why})
    glance = [c for c in report.checks if c.service == "glance"]
    assert glance and all(c.status == "skip" and c.detail == why for c in glance)
    assert report.ok


def test_a_failing_check_names_its_call_and_error(keystones: Keystones,
                                                  tmp_path: Path) -> None:
    # Tokens come from the auth URL, every identity API call goes to an endpoint
    # where nothing listens: the token check passes, the others fail for real.
    data = yaml.safe_load(keystones.clouds_yaml.read_text())
    broken = data["clouds"]["it-old"]
    broken["identity_endpoint_override"] = f"http://{ADDRESS['old']}:{_closed_port()}/v3"
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"it-broken": broken}}))
    report = run_smoke(connect("it-broken", path, retry_budget=0), ["keystone"], side="old",
                       cloud="it-broken")
    failed = {c.name: c for c in report.failures}
    assert not report.ok
    assert set(failed) == {"catalog", "projects", "users", "roles", "groups"}
    assert [c.name for c in report.checks if c.status == "pass"] == ["token"]
    assert failed["users"].call == "identity.users()"
    assert "Connect" in failed["users"].detail or "connect" in failed["users"].detail
    assert "identity.users()" in report.summary()


def test_parity_finds_a_project_created_on_one_side_only(clouds: Clouds,
                                                         project_on_new_only: str) -> None:
    parity = parity_sides(load_inventory_of(clouds), clouds, "old", "new")
    assert not parity.ok
    (projects,) = [t for t in parity.types if t.resource == "projects"]
    assert projects.only_right == (project_on_new_only,)
    assert projects.only_left == ()
    assert projects.right_count == projects.left_count + 1
    assert project_on_new_only in parity.summary()
    others = [t for t in parity.types if t.resource != "projects"]
    assert others and all(t.ok for t in others)


def test_parity_of_the_untouched_copy_is_clean(clouds: Clouds) -> None:
    parity = parity_sides(load_inventory_of(clouds), clouds, "old", "new")
    assert parity.ok, parity.summary()
    assert {"projects", "users", "roles", "domains", "endpoints"} <= \
        {t.resource for t in parity.types}


def test_parity_compares_content_a_renamed_project_is_named_with_both_names(
        clouds: Clouds) -> None:
    conn = clouds("new")
    (admin,) = [p for p in conn.identity.projects() if p.name == "admin"]
    conn.identity.update_project(admin.id, description="not compared")
    try:
        parity = parity_sides(load_inventory_of(clouds), clouds, "old", "new")
        (projects,) = [t for t in parity.types if t.resource == "projects"]
        assert {"name", "domain_id", "enabled"} <= set(projects.fields)
        assert projects.changed == ()  # a description is not compared
        conn.identity.update_project(admin.id, name="admin-renamed")
        parity = parity_sides(load_inventory_of(clouds), clouds, "old", "new")
        (projects,) = [t for t in parity.types if t.resource == "projects"]
        (change,) = projects.changed
        assert (change.id, change.field, change.left, change.right) == (
            admin.id, "name", "admin", "admin-renamed")
        assert f"project {admin.id}: name admin != admin-renamed" in parity.summary()
    finally:
        conn.identity.update_project(admin.id, name="admin",
                                     description=admin.description or "")


def test_comparison_reports_numbers_for_both_releases(clouds: Clouds) -> None:
    inventory = load_inventory_of(clouds)
    report = compare_sides(inventory, clouds, rounds=5, threshold=1.5,
                           host_of=lambda name: LocalHost(name))
    names = [c.scenario for c in report.calls]
    assert names == ["token issue", "token validate", "show catalog", "list projects",
                     "list users", "list roles"]
    for call in report.calls:
        assert not call.failed, call.first_error
        for stats in (call.old, call.new):
            assert stats.samples == 5
            assert stats.p50 is not None and 0 < stats.p50 <= stats.p95 <= stats.max
        assert call.ratio_p50 == pytest.approx(call.new.p50 / call.old.p50)
    assert {side: [h.host for h in hosts] for side, hosts in report.capacity.items()} == \
        {"old": ["old-ctl1"], "new": ["new-ctl1"]}
    old_host = report.capacity["old"][0]
    assert old_host.cpus and old_host.cpus >= 1
    assert old_host.memory_bytes and old_host.memory_bytes > 2**27
    print(json.dumps(report.to_dict(), indent=1))


def load_inventory_of(clouds: Clouds):  # type: ignore[no-untyped-def]
    return clouds.inventory


def test_unknown_cloud_names_the_cloud_and_the_file(keystones: Keystones) -> None:
    with pytest.raises(InputError) as caught:
        connect("it-nowhere", keystones.clouds_yaml)
    assert "it-nowhere" in caught.value.message
    assert str(keystones.clouds_yaml) in caught.value.message
    assert "it-old" in caught.value.message  # the clouds that do exist


def test_missing_clouds_yaml_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        connect("it-old", tmp_path / "clouds.yaml")


def test_wrong_password_is_an_input_error_without_the_password(keystones: Keystones,
                                                               tmp_path: Path) -> None:
    data = yaml.safe_load(keystones.clouds_yaml.read_text())
    data["clouds"]["it-old"]["auth"]["password"] = "wrong-" + uuid.uuid4().hex
    bad = tmp_path / "clouds.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as caught:
        connect("it-old", bad, retry_budget=0)
    assert "refused the credentials" in caught.value.message
    assert "it-old" in caught.value.message and str(bad) in caught.value.message
    assert data["clouds"]["it-old"]["auth"]["password"] not in caught.value.message


def test_nothing_listening_is_unreachable(keystones: Keystones, tmp_path: Path) -> None:
    data = yaml.safe_load(keystones.clouds_yaml.read_text())
    closed = f"http://{ADDRESS['old']}:{_closed_port()}/v3"
    data["clouds"]["it-old"]["auth"]["auth_url"] = closed
    data["clouds"]["it-old"]["identity_endpoint_override"] = closed
    bad = tmp_path / "clouds.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(UnreachableError) as caught:
        connect("it-old", bad, retry_budget=0)
    assert closed in caught.value.message and "it-old" in caught.value.message


def _closed_port() -> int:
    from tests.integration.cloud.conftest import free_port

    return free_port(ADDRESS["old"])  # bound then released: nothing listens there


def _context(tmp_path: Path, step: Step) -> StepContext:
    journal = Journal(tmp_path / "state")
    run_id = journal.start_run("cutover", "cloud-it", [step.to_dict()], [])
    return StepContext(run_id=run_id, step=step, journal=journal, options={})


def test_snapshot_then_verify_vip_passes_and_then_catches_a_new_project(
        keystones: Keystones, tmp_path: Path) -> None:
    inventory = load_inventory(keystones.inventory)
    actions = ActionSet(Environment(inventory=inventory, state_dir=tmp_path / "state"))
    snap_step = Step(id="cutover.snapshot", action="snapshot_resources",
                     changes=Changes.LOCAL, title="snapshot")
    ctx = _context(tmp_path, snap_step)
    result = actions["snapshot_resources"].run(snap_step, ctx)
    stored = ctx.fact("cutover.snapshot")
    assert result and result["counts"]["projects"] == len(stored["projects"]) >= 1
    assert list(stored["projects"]) == sorted(stored["projects"])
    admin = next(p for p in stored["projects"].values() if p["name"] == "admin")
    assert admin["domain_id"] == "default" and admin["enabled"] is True
    vip_step = Step(id="cutover.verify-vip", action="verify_vip", changes=Changes.NOTHING,
                    title="verify vip")
    vip_ctx = StepContext(run_id=ctx.run_id, step=vip_step, journal=ctx.journal, options={})
    assert actions["verify_vip"].run(vip_step, vip_ctx)["side"] == "vip"  # type: ignore[index]
    assert any("same counts and ids" in line for line in vip_ctx.log_lines)

    conn = connect("it-vip", keystones.clouds_yaml)
    extra = conn.identity.create_project(name=f"it-after-{uuid.uuid4().hex[:8]}",
                                         domain_id="default")
    try:
        with pytest.raises(VerificationError) as caught:
            actions["verify_vip"].run(vip_step, StepContext(
                run_id=ctx.run_id, step=vip_step, journal=ctx.journal, options={}))
        assert extra.id in caught.value.message
        assert "projects" in caught.value.message
        # a cutover without a read-only window: the new project is reported, no failure
        # (this "VIP" reaches the old keystone: said so, so nothing is written there)
        open_step = Step(id="cutover.verify-vip", action="verify_vip",
                         changes=Changes.NOTHING, title="verify vip",
                         params={"allow_added": True, "expect": "old"})
        open_ctx = StepContext(run_id=ctx.run_id, step=open_step, journal=ctx.journal,
                               options={})
        actions["verify_vip"].run(open_step, open_ctx)
        assert any("created since: projects +1" in line for line in open_ctx.log_lines), \
            open_ctx.log_lines
    finally:
        conn.identity.delete_project(extra.id)
    ctx.journal.close()


def test_verify_side_new_with_parity_fails_on_a_difference(
        keystones: Keystones, tmp_path: Path, project_on_new_only: str) -> None:
    actions = ActionSet(Environment(inventory=load_inventory(keystones.inventory),
                                     state_dir=tmp_path / "state"))
    step = Step(id="prepare.verify-new", action="verify_side", changes=Changes.NOTHING,
                title="verify new", params={"side": "new"})
    smoke_only = Step(id="cutover.check-new", action="verify_side", changes=Changes.NOTHING,
                      title="check new", params={"side": "new", "smoke_only": True})
    ctx = _context(tmp_path, step)
    # six reads, and the region created and deleted on the new keystone
    assert actions["verify_side"].run(smoke_only, ctx)["checks"] == 7  # type: ignore[index]
    assert any("pass keystone region create/delete" in line for line in ctx.log_lines)
    nothing = Step(id="cutover.check-new", action="verify_side", changes=Changes.NOTHING,
                   title="check new", params={"side": "new", "smoke_only": True,
                                              "services": ["glance"]})
    assert actions["verify_side"].run(nothing, ctx)["checks"] == 0  # type: ignore[index]
    with pytest.raises(VerificationError, match=project_on_new_only):
        actions["verify_side"].run(step, ctx)
    ignoring = Step(id="prepare.verify-new", action="verify_side", changes=Changes.NOTHING,
                    title="verify new", params={"side": "new", "ignore": ["projects"]})
    assert actions["verify_side"].run(ignoring, ctx)["parity_types"] >= 5  # type: ignore[index]
    ctx.journal.close()


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def noop() -> None:  # a second command keeps `verify` a named subcommand
        pass
    return app


def test_cli_side_new_json_and_exit_9_on_difference(keystones: Keystones, tmp_path: Path,
                                                    project_on_new_only: str) -> None:
    runner = CliRunner()
    args = ["verify", "-i", str(keystones.inventory), "--state-dir", str(tmp_path),
            "--side", "new", "--json"]
    result = runner.invoke(_cli(), args)
    assert result.exit_code == 9, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["smoke"]["ok"] is True
    (projects,) = [t for t in data["parity"]["types"] if t["resource"] == "projects"]
    assert projects["only_right"] == [project_on_new_only]
    assert Path(data["files"]["report"]).is_file()


def test_cli_compare_writes_table_json_and_svg(keystones: Keystones, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_cli(), ["verify", "-i", str(keystones.inventory), "--state-dir",
                                    str(tmp_path), "--side", "old", "--compare",
                                    "--rounds", "3"])
    assert result.exit_code == 0, result.output
    # (the tables wrap in the runner's 80 columns: words, not rows, are checked)
    assert "token" in result.output and "latency" in result.output
    assert "old-ctl1" in result.output  # capacity
    (svg,) = (tmp_path / "reports").glob("verify-*.svg")
    text = svg.read_text()
    assert text.startswith("<svg") and "list projects" in text
    (report,) = (tmp_path / "reports").glob("verify-*.json")
    data = json.loads(report.read_text())
    assert data["comparison"]["rounds"] == 3
    assert all(c["old"]["p50_ms"] and c["new"]["p50_ms"] for c in data["comparison"]["calls"])


def test_snapshot_lists_only_the_inventory_services(clouds: Clouds) -> None:
    taken = snapshot(clouds("old"), ["keystone", "glance", "nova"])
    assert "images" not in taken and "servers" not in taken  # no endpoints for them
    assert list(taken["domains"]) == sorted(taken["domains"]) and "default" in taken["domains"]
    assert taken["domains"]["default"] == {"enabled": True, "name": "Default"}
    assert any(rid.startswith("role=") and " user=" in rid and " project=" in rid
               for rid in taken["role_assignments"])


def test_run_verify_vip_without_snapshot_notes_it(keystones: Keystones) -> None:
    report = run_verify(load_inventory(keystones.inventory), side="vip")
    assert report.ok and report.parity is None
    assert any("snapshot" in note for note in report.notes)


def test_verify_vip_said_to_serve_new_but_reaching_the_old_keystone_writes_nothing(
        keystones: Keystones, tmp_path: Path) -> None:
    inventory = load_inventory(keystones.inventory)
    actions = ActionSet(Environment(inventory=inventory, state_dir=tmp_path / "state"))
    step = Step(id="cutover.verify-vip", action="verify_vip", changes=Changes.NOTHING,
                title="verify vip", params={"allow_added": True})
    conn = connect("it-old", keystones.clouds_yaml)
    regions = {r.id for r in conn.identity.regions()}
    with pytest.raises(VerificationError) as caught:
        actions["verify_vip"].run(step, _context(tmp_path, step))
    assert "keystone region create/delete" in caught.value.message
    assert "old controller old-ctl1" in caught.value.message
    assert {r.id for r in conn.identity.regions()} == regions
