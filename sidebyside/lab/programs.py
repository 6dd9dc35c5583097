"""The processes one lab service runs on one controller, and when each is ready: pure.

A served service is one or more programs, each a process with its PID and log file
(`old-nova`, `old-nova-conductor`, ...). The first is the API, ready when it answers
its health path; a worker is ready when it consumes its queue on the side's vhost.

    keystone   the API in our WSGI server (keystone >= 2026.1 has no wsgi script)
    glance     glance-api
    placement  the API in our WSGI server
    nova       the API in our WSGI server, nova-conductor, nova-scheduler
    neutron    neutron-server (API and RPC workers) where the release ships it; from
               2026.1 the API in our WSGI server beside neutron-rpc-server
    cinder     the API in our WSGI server, cinder-scheduler, cinder-volume (its backend:
               see templates/cinder.conf.j2)
    heat       the API in our WSGI server, heat-engine
    horizon    openstack_dashboard (Django's WSGI application) in our WSGI server, which
               serves the collected static files itself under /static/ as the
               distributions' Apache serves STATIC_ROOT (`Alias /static`): Django serves
               them only with DEBUG
    compute    nova-compute of the compute node (see `compute_program`)

Which entry points a release has is read from its venv (`available`), not from a
table of versions.

cinder-volume's backend is cinder's FakeLoggingVolumeDriver (cinder/tests/fake_driver.py,
shipped in cinder's wheel of every release the lab runs): the one stand-in on the
storage side, as nova's fake virt driver is the hypervisor's; the control plane is what
is upgraded. Not FakeGateDriver: that is the real LVM driver with group methods added,
so it runs `vgs`/`lvcreate` as root and wants a volume group. The logging driver runs
nothing (its executor and LVM object only log), reports one pool of infinite capacity,
and answers initialize_connection with an iscsi connection_info that nova's fake virt
driver "attaches": a volume is created, reserved, connected, attached and completed
through cinder's and nova's APIs, RPC and databases for real; only no block device
exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

WSGI_SERVER = Path(__file__).with_name("wsgi_server.py")

# service -> the WSGI applications tried in order (the first importable one is served)
WSGI_APPS: dict[str, tuple[str, ...]] = {
    "keystone": ("keystone.wsgi.api:application",
                 "keystone.server.wsgi:initialize_public_application()"),
    "placement": ("placement.wsgi.api:application", "placement.wsgi:init_application()"),
    "nova": ("nova.wsgi.osapi_compute:application",
             "nova.api.openstack.compute.wsgi:init_application()"),
    "neutron": ("neutron.wsgi.api:application",),
    "cinder": ("cinder.wsgi.api:application",),
    "heat": ("heat.wsgi.api:application",),
    # not openstack_dashboard.wsgi: it puts the package directory first on sys.path, so
    # `local.local_settings` would be the venv's (shared by every lab), not this
    # controller's (DASHBOARD_ENV)
    "horizon": ("django.core.wsgi:get_wsgi_application()",),
}
DASHBOARD_SETTINGS = "openstack_dashboard.settings"
STATIC_URL = "/static/"
# service -> (env var naming its config dir, env var naming its config files, files)
CONFIG_ENV: dict[str, tuple[str, str, str]] = {
    "keystone": ("OS_KEYSTONE_CONFIG_DIR", "OS_KEYSTONE_CONFIG_FILES", "keystone.conf"),
    "placement": ("OS_PLACEMENT_CONFIG_DIR", "OS_PLACEMENT_CONFIG_FILES", "placement.conf"),
    # nova loads its paste pipeline from the first file
    "nova": ("OS_NOVA_CONFIG_DIR", "OS_NOVA_CONFIG_FILES", "api-paste.ini;nova.conf"),
    "neutron": ("OS_NEUTRON_CONFIG_DIR", "OS_NEUTRON_CONFIG_FILES",
                "neutron.conf;plugins/ml2/ml2_conf.ini"),
}
# neutron's test mechanism driver checks its own bookkeeping with `assert`s made for
# unit tests (a port is never re-bound, `context.original` is None), which a real
# server's binding on port update trips; without them it binds the lab's compute
# host's ports as it is written to (python -O drops the asserts, nothing else).
NEUTRON_ENV = {"PYTHONOPTIMIZE": "1"}
# worker program -> the queue it consumes once ready
WORKER_QUEUES = {"nova-conductor": "conductor", "nova-scheduler": "scheduler",
                 "heat-engine": "engine", "cinder-scheduler": "cinder-scheduler",
                 "cinder-volume": "cinder-volume",
                 "neutron-rpc-server": "q-plugin", "neutron-server": "q-plugin",
                 "nova-compute": "compute"}


@dataclass(frozen=True)
class Program:
    """One process of a service: `suffix` names its PID and log files ("" for the
    service's first, `<dir>-<service>`; else `<dir>-<service>-<suffix>`)."""

    suffix: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    health_path: str | None = None     # the API: ready when this answers 200
    queue: str | None = None           # a worker: ready when it consumes this queue

    def component(self, base: str) -> str:
        return f"{base}-{self.suffix}" if self.suffix else base


def dashboard_env(share: Path) -> dict[str, str]:
    """How horizon finds this controller's settings: Django's settings module, and the
    share directory first on the path, whose `local` package holds local_settings.py
    (a link to /etc/openstack-dashboard/local_settings.py, see install.dashboard_share)."""
    return {"DJANGO_SETTINGS_MODULE": DASHBOARD_SETTINGS, "PYTHONPATH": str(share)}


def _wsgi(venv: Path, service: str, address: str, port: int, pid_file: Path,
          etc: Path, health_path: str, app_args: tuple[str, ...] = ()) -> Program:
    # --pid-file also puts the lab's state dir on the command line, so `ps` tells which
    # lab a server belongs to.
    argv = [str(venv / "bin" / "python"), str(WSGI_SERVER), "--host", address,
            "--port", str(port), "--pid-file", str(pid_file)]
    for app in WSGI_APPS[service]:
        argv += ["--app", app]
    for arg in app_args:  # the application's own command line (heat and cinder read
        # their config so)
        argv.append(f"--app-arg={arg}")
    env = {}
    if service in CONFIG_ENV:
        dir_var, files_var, files = CONFIG_ENV[service]
        env = {dir_var: str(etc), files_var: files}
    return Program("", tuple(argv), env, health_path=health_path)


def available(venv: Path) -> Callable[[str], bool]:
    """Whether the venv ships a console script of that name."""
    return lambda name: (venv / "bin" / name).exists()


def service_programs(service: str, *, venv: Path, etc: Path, address: str, port: int,
                     pid_file: Callable[[str], Path], health_path: str,
                     has: Callable[[str], bool] | None = None,
                     share: Path | None = None, static: Path | None = None
                     ) -> tuple[Program, ...]:
    """The programs of `service` on a controller, its API first. `pid_file(suffix)`
    names each program's PID file; `share` and `static` are horizon's share directory
    and STATIC_ROOT. Raises ValueError for a service the lab does not serve."""
    has = has or available(venv)
    bin_dir = venv / "bin"
    if service in ("keystone", "placement"):
        return (_wsgi(venv, service, address, port, pid_file(""), etc, health_path),)
    if service == "glance":
        return (Program("", (str(bin_dir / "glance-api"), "--config-file",
                             str(etc / "glance-api.conf")), health_path=health_path),)
    if service == "nova":
        nova_conf = ("--config-file", str(etc / "nova.conf"))
        return (_wsgi(venv, "nova", address, port, pid_file(""), etc, health_path),
                Program("conductor", (str(bin_dir / "nova-conductor"), *nova_conf),
                        queue=WORKER_QUEUES["nova-conductor"]),
                Program("scheduler", (str(bin_dir / "nova-scheduler"), *nova_conf),
                        queue=WORKER_QUEUES["nova-scheduler"]))
    if service == "neutron":
        conf = ("--config-file", str(etc / "neutron.conf"), "--config-file",
                str(etc / "plugins" / "ml2" / "ml2_conf.ini"))
        if has("neutron-server"):
            return (Program("", (str(bin_dir / "neutron-server"), *conf),
                            NEUTRON_ENV, health_path=health_path),)
        api = _wsgi(venv, "neutron", address, port, pid_file(""), etc, health_path)
        return (replace(api, env={**api.env, **NEUTRON_ENV}),
                Program("rpc", (str(bin_dir / "neutron-rpc-server"), *conf), NEUTRON_ENV,
                        queue=WORKER_QUEUES["neutron-rpc-server"]))
    if service == "heat":
        heat_conf = ("--config-file", str(etc / "heat.conf"))
        return (_wsgi(venv, "heat", address, port, pid_file(""), etc, health_path,
                      app_args=heat_conf),
                Program("engine", (str(bin_dir / "heat-engine"), *heat_conf),
                        queue=WORKER_QUEUES["heat-engine"]))
    if service == "cinder":
        cinder_conf = ("--config-file", str(etc / "cinder.conf"))
        # cinder-volume consumes `cinder-volume.<backend_host>@<backend>`: a queue
        # `cinder-volume.*` counts (services.wait_consuming)
        return (_wsgi(venv, "cinder", address, port, pid_file(""), etc, health_path,
                      app_args=cinder_conf),
                Program("scheduler", (str(bin_dir / "cinder-scheduler"), *cinder_conf),
                        queue=WORKER_QUEUES["cinder-scheduler"]),
                Program("volume", (str(bin_dir / "cinder-volume"), *cinder_conf),
                        queue=WORKER_QUEUES["cinder-volume"]))
    if service == "horizon":
        if share is None or static is None:
            raise ValueError("horizon needs its share directory and STATIC_ROOT")
        dashboard = _wsgi(venv, "horizon", address, port, pid_file(""), etc, health_path)
        return (replace(dashboard, argv=(*dashboard.argv, f"--static={STATIC_URL}={static}"),
                        env=dashboard_env(share)),)
    raise ValueError(f"the lab does not serve {service!r}")


def compute_program(venv: Path, conf: Path) -> Program:
    """nova-compute of the compute node."""
    return Program("", (str(venv / "bin" / "nova-compute"), "--config-file", str(conf)),
                   queue=WORKER_QUEUES["nova-compute"])
