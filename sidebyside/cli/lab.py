"""`sbs lab up|status|down` and `sbs lab service`: the local lab of real services.

Thin commands over the lab's jobs (`lab.up`, `lab.status`, `lab.down`, `lab.reset`,
`lab.services`). Also runnable as
`python -m sidebyside.cli.lab ...`, which is how the lab's generated inventory calls
`service start|stop|status` (independent of where `sbs` is on PATH).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sidebyside.cli import output
from sidebyside.cli.common import run_app
from sidebyside.errors import InputError
from sidebyside.lab import compute
from sidebyside.lab.down import down as bring_down
from sidebyside.lab.layout import (
    COMPUTE_NODES,
    SIDES,
    TOPOLOGIES,
    ComputeNode,
    LabLayout,
    Topology,
    compute_node,
)
from sidebyside.lab.lockfiles import default_cache_root
from sidebyside.lab.releases import LAB_SERVICES, LOCKED_RELEASES
from sidebyside.lab.render import LabSpec
from sidebyside.lab.reset import reset_new_side
from sidebyside.lab.services import LabServices
from sidebyside.lab.state import load_state
from sidebyside.lab.status import lab_status, memory_by_side
from sidebyside.lab.up import up as bring_up
from sidebyside.services.releases import suggest_via

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The local lab of real OpenStack services.")
service_app = typer.Typer(no_args_is_help=True, add_completion=False,
                          help="Start, stop or report one lab service (the inventory's "
                               "service commands).")
app.add_typer(service_app, name="service")
compute_app = typer.Typer(no_args_is_help=True, add_completion=False,
                          help="Start, stop or report the lab's compute node (the "
                               "inventory's computes commands).")
app.add_typer(compute_app, name="compute")

StateDir = Annotated[Path, typer.Option(
    "--state-dir", envvar="SBS_LAB_DIR", help="The lab's state directory.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
DEFAULT_STATE_DIR = Path(".lab")
# Nice exit code for `service status` of a stopped service (LSB: 3 = not running).
NOT_RUNNING = 3


_STARTED = time.monotonic()


def _progress(message: str) -> None:
    output.err_console.print(f"[dim]lab {time.monotonic() - _STARTED:5.1f}s:[/] {message}")


# What `lab up` sets up; placement has locks (and venvs) but no set-up yet.
UP_SERVICES = LAB_SERVICES


def _services(value: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in names if s not in UP_SERVICES]
    if unknown or not names:
        raise InputError(f"--services: unknown {', '.join(unknown) or '(none given)'}; "
                         f"the lab sets up {', '.join(UP_SERVICES)}")
    if "keystone" not in names:
        raise InputError("--services: keystone is required (every service needs it)")
    return tuple(s for s in UP_SERVICES if s in names)


def _topology(name: str, address_base: str | None) -> Topology:
    """A named topology, optionally moved to other addresses. Raises InputError."""
    if name not in TOPOLOGIES:
        raise InputError(f"--topology: unknown {name!r}; known: {', '.join(TOPOLOGIES)}")
    topology = TOPOLOGIES[name]
    if address_base is not None:
        topology = replace(topology, address_base=address_base)
    problems = topology.problems()
    if problems:
        raise InputError("; ".join(f"--{field.replace('_', '-')}: {what}"
                                   for field, what in problems))
    return topology


def _check_shape(topology: Topology, services: tuple[str, ...]) -> None:
    """Raises InputError for what a multi-controller lab cannot do yet."""
    bound = [s for s in ("glance", "placement", "neutron") if s in services]
    if topology.controllers > 1 and bound:
        # glance-api.conf and neutron.conf bind their controller's address, and sbs
        # writes the first old controller's config to every new one: they would all
        # bind the same address (placement is refused with them: nova needs it).
        raise InputError(f"--services: {', '.join(bound)} need one controller a side in "
                         "the lab (the bind address is per controller); with several, "
                         "use keystone or keystone,nova")


def _releases(from_release: str, to_release: str, via: list[str]) -> tuple[str, ...]:
    for name in (from_release, to_release, *via):
        if name not in LOCKED_RELEASES:
            raise InputError(f"release {name!r}: the lab has locks for "
                             f"{', '.join(LOCKED_RELEASES)}")
    path = [from_release, *via, to_release]
    if path != sorted(path) or len(set(path)) != len(path):
        raise InputError(f"releases must strictly increase: {' -> '.join(path)}")
    return tuple(via)


@app.command()
def up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    from_release: Annotated[str, typer.Option("--from-release", help="Old side.")] = "2024.1",
    to_release: Annotated[str, typer.Option("--to-release", help="New side.")] = "2026.1",
    via: Annotated[list[str] | None, typer.Option(
        "--via", help="Intermediate release (repeatable; default: what upstream needs, "
                      "e.g. 2025.1 for 2024.1 -> 2026.1).")] = None,
    services: Annotated[str | None, typer.Option(
        "--services", help="Comma-separated; nova runs with its workers and a compute "
                           "node beside placement and neutron, else database-only "
                           "(default: keystone,glance,nova; keystone with several "
                           "controllers a side).")] = None,
    topology: Annotated[str, typer.Option(
        "--topology", help="single: one controller a side, one HAProxy, on 127.0.0.10-12 "
                           "(MariaDB :13306). ha3: three controllers a side behind two "
                           "HAProxy nodes on 127.0.2.10-17 (MariaDB :23306, service ports "
                           "+10000). cloud: one controller a side on 127.0.3.10-12 "
                           "(MariaDB :33306, service ports +20000), for the whole cloud "
                           "beside a default lab.")] = "single",
    address_base: Annotated[str | None, typer.Option(
        "--address-base", help="The topology's first three octets instead, e.g. 127.0.3 "
                               "(to run two labs of one topology side by side).")] = None,
    as_json: Json = False,
) -> None:
    """Bring the lab up (idempotent): databases, old controllers served and seeded, new
    controllers installed, HAProxy on the VIP, inventory and clouds.yaml written."""
    via_list = [v for item in (via or []) for v in item.split(",") if v.strip()] \
        if via is not None else suggest_via(from_release, to_release)
    shape = _topology(topology, address_base)
    if services is None:
        services = "keystone,glance,nova" if shape.controllers == 1 else "keystone"
    chosen = _services(services)
    _check_shape(shape, chosen)
    spec = LabSpec(from_release=from_release, to_release=to_release,
                   via=_releases(from_release, to_release, via_list),
                   services=chosen, topology=shape)
    report = bring_up(state_dir, spec, python=sys.executable, cache_root=default_cache_root(),
                      progress=_progress)
    layout = LabLayout(state_dir.resolve())
    if as_json:
        output.emit_json({"state_dir": str(layout.state_dir),
                          "inventory": str(layout.inventory),
                          "clouds_yaml": str(layout.clouds_yaml), **report.to_dict()})
        return
    built = [v for v in report.venvs if v.built]
    output.console.print(
        f"lab up in {report.seconds:.1f} s: {len(built)} venv(s) built, "
        f"{len(report.venvs) - len(built)} reused; started: "
        f"{', '.join(report.started) or 'nothing (all running)'}")
    output.console.print(f"inventory: {layout.inventory}")
    output.console.print(f"clouds:    {layout.clouds_yaml} (clouds lab-vip, lab-old, lab-new)")


@app.command()
def status(state_dir: StateDir = DEFAULT_STATE_DIR, as_json: Json = False) -> None:
    """Each component: running or not, address, port, PID, resident memory."""
    rows = lab_status(state_dir)
    memory = memory_by_side(rows)
    if as_json:
        output.emit_json({"components": rows, "rss_mib": memory})
        return
    from rich.table import Table

    table = Table("component", "state", "address", "port", "pid", "memory")
    for row in rows:
        state = "database-only" if row.get("database_only") else \
            ("running" if row["running"] else "stopped")
        table.add_row(row["component"], state, row["address"], str(row["port"]),
                      str(row["pid"] or "-"), f"{row['rss_mib']:.0f} MiB" if row["rss_mib"]
                      else "-")
    output.console.print(table)
    output.console.print("resident memory: " + ", ".join(
        f"{side or 'HAProxy'} {mib:.0f} MiB" for side, mib in memory.items()))


@app.command()
def down(state_dir: StateDir = DEFAULT_STATE_DIR,
         purge: Annotated[bool, typer.Option(
             "--purge", help="Also delete the state directory (data, configs, keys).")] = False,
         as_json: Json = False) -> None:
    """Stop every process the lab started, by the PIDs it recorded."""
    stopped = bring_down(state_dir, purge=purge)
    if as_json:
        output.emit_json({"stopped": stopped, "purged": purge})
        return
    output.console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}"
                         + (f"; removed {state_dir}" if purge else ""))


@app.command()
def reset(state_dir: StateDir = DEFAULT_STATE_DIR, as_json: Json = False) -> None:
    """Return the new controller to its empty, stopped state and the VIP to the old one
    (to run `sbs prepare` again on the same lab)."""
    done = reset_new_side(state_dir)
    if as_json:
        output.emit_json({"done": done})
        return
    for line in done:
        output.console.print(line)


@app.command()
def env(state_dir: StateDir = DEFAULT_STATE_DIR,
        cloud: Annotated[str, typer.Option(help="lab-vip, lab-old or lab-new.")] = "lab-vip",
        ) -> None:
    """Shell exports for using the lab: `eval "$(sbs lab env)"`."""
    import shlex

    layout = LabLayout(state_dir.resolve())
    if not layout.inventory.is_file():
        raise InputError(f"{layout.state_dir}: no lab here (no sbs.yaml); run `sbs lab up`")
    if cloud not in ("lab-vip", "lab-old", "lab-new"):
        raise InputError(f"--cloud must be lab-vip, lab-old or lab-new, not {cloud!r}")
    for name, value in (("SBS_INVENTORY", str(layout.inventory)),
                        ("SBS_LAB_DIR", str(layout.state_dir)),
                        ("OS_CLIENT_CONFIG_FILE", str(layout.clouds_yaml)),
                        ("OS_CLOUD", cloud)):
        typer.echo(f"export {name}={shlex.quote(value)}")


Side = Annotated[str, typer.Option("--side", help="old or new.")]
Service = Annotated[str, typer.Argument(help="keystone, glance, nova, ...")]
ControllerOpt = Annotated[str | None, typer.Option(
    "--controller", help="Which controller of the side (old-ctl2, ...); default: its first.")]


def _side(side: str) -> str:
    if side not in SIDES:
        raise InputError(f"--side must be old or new, not {side!r}")
    return side


@service_app.command("start")
def service_start(service: Service, side: Side, state_dir: StateDir = DEFAULT_STATE_DIR,
                  controller: ControllerOpt = None, as_json: Json = False) -> None:
    """Start a service of one side and wait until it answers."""
    result = LabServices.open(state_dir).start(_side(side), service, controller)
    _print_service(result.to_dict(), as_json)


@service_app.command("stop")
def service_stop(service: Service, side: Side, state_dir: StateDir = DEFAULT_STATE_DIR,
                 controller: ControllerOpt = None, as_json: Json = False) -> None:
    """Stop a service of one side by its recorded PID."""
    result = LabServices.open(state_dir).stop(_side(side), service, controller)
    _print_service(result.to_dict(), as_json)


@service_app.command("status")
def service_status(service: Service, side: Side, state_dir: StateDir = DEFAULT_STATE_DIR,
                   controller: ControllerOpt = None, as_json: Json = False) -> None:
    """Exit 0 when the service runs, 3 when it does not."""
    result = LabServices.open(state_dir).status(_side(side), service, controller)
    _print_service(result.to_dict(), as_json)
    if not result.running:
        # SystemExit, not typer.Exit: click returns Exit's code silently when embedded
        # with standalone_mode=False, and the inventory's status command needs it.
        sys.exit(NOT_RUNNING)


NodeOpt = Annotated[str, typer.Option(
    "--node", help="The compute node (compute1, compute2).")]
DEFAULT_NODE = COMPUTE_NODES[0].dir


def _compute_lab(state_dir: Path) -> LabServices:
    lab = LabServices.open(state_dir)
    if not lab.state.spec.has_compute:
        raise InputError(f"{state_dir}: this lab has no compute node")
    return lab


@compute_app.command("start")
def compute_start(state_dir: StateDir = DEFAULT_STATE_DIR, node: NodeOpt = DEFAULT_NODE,
                  as_json: Json = False) -> None:
    """Start nova-compute of a compute node with the release it runs; wait until it
    consumes its queue on the vhost its nova.conf names."""
    lab = _compute_lab(state_dir)
    where = compute_node(node)
    _print_compute(lab, where, compute.start(lab.layout, lab.state, where), as_json)


@compute_app.command("stop")
def compute_stop(state_dir: StateDir = DEFAULT_STATE_DIR, node: NodeOpt = DEFAULT_NODE,
                 as_json: Json = False) -> None:
    """Stop nova-compute of a compute node by its recorded PID (its instances are
    records of the fake driver: nothing else stops)."""
    lab = _compute_lab(state_dir)
    where = compute_node(node)
    compute.stop(lab.layout, where)
    _print_compute(lab, where, None, as_json)


@compute_app.command("status")
def compute_status(state_dir: StateDir = DEFAULT_STATE_DIR, node: NodeOpt = DEFAULT_NODE,
                   as_json: Json = False) -> None:
    """Exit 0 when nova-compute of a compute node runs, 3 when it does not."""
    lab = _compute_lab(state_dir)
    where = compute_node(node)
    pid = compute.running_pid(lab.layout, where)
    _print_compute(lab, where, pid, as_json)
    if pid is None:
        sys.exit(NOT_RUNNING)


@compute_app.command("upgrade")
def compute_upgrade(release: Annotated[str, typer.Option(
                        "--release", help="The release it moves to (a venv of the lab).")],
                    state_dir: StateDir = DEFAULT_STATE_DIR, node: NodeOpt = DEFAULT_NODE,
                    as_json: Json = False) -> None:
    """The lab's package upgrade of a stopped compute node: its nova-compute runs
    `--release` from its next start, its configuration kept (what the lab's compute
    playbook runs for `sbs computes upgrade`)."""
    lab = _compute_lab(state_dir)
    where = compute_node(node)
    before = compute.upgrade(lab.layout, where, release)
    if as_json:
        output.emit_json({"node": where.dir, "from": before, "to": release})
        return
    output.console.print(f"{where.component}: {before} -> {release} (starts with it)")


def _print_compute(lab: LabServices, node: ComputeNode, pid: int | None,
                   as_json: bool) -> None:
    now = load_state(lab.layout) or lab.state  # re-read: an upgrade just changed it
    data = {"component": node.component, "pid": pid, "running": pid is not None,
            "vhost": compute.configured_vhost(lab.layout, node),
            "release": now.compute_release(node.dir)}
    if as_json:
        output.emit_json(data)
        return
    state = f"running (pid {pid})" if pid is not None else "stopped"
    output.console.print(f"{node.component}: {state}, {data['release']}, bus vhost "
                         f"{data['vhost']}")


def _print_service(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        output.emit_json(data)
        return
    if data["database_only"]:
        state = "database-only (nothing to run)"
    else:
        state = f"running (pid {data['pid']})" if data["running"] else "stopped"
    output.console.print(f"{data['controller'] or data['side']} {data['service']}: {state} "
                         f"on {data['address']}:{data['port']}")


def main() -> None:
    """`python -m sidebyside.cli.lab`: the same error handling as `sbs`."""
    run_app(app)


if __name__ == "__main__":
    main()
