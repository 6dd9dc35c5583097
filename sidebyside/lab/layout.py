"""Where everything of one lab lives, and its addresses: pure data.

The lab's topology (how many controllers per side, how many HAProxy nodes, on which
loopback addresses and ports) is a `Topology`; the module constants below are the
default single-controller lab's (127.0.0.10-12, MariaDB on 13306).

    <state>/lab.json                  what `lab up` built (releases, venvs, services)
    <state>/secrets/                  generated passwords, mode 0700, files 0600
    <state>/run/<component>.pid       PIDs of every process the lab started
    <state>/log/<component>.log
    <state>/haproxy.cfg, haproxy.sock, haproxy-server-state
    <state>/sbs.yaml, clouds.yaml     the generated inventory and clouds
    <state>/old/ and <state>/new/     each controller's root, laid out like a package
                                      install: etc/keystone/keystone.conf, var/lib/...

With several controllers per side, each has its own root, `<state>/old-ctl2/`, and
its components' PID and log files are named after it (`run/old-ctl2-keystone.pid`);
the side's MariaDB lives in its first controller's root. With several HAProxy nodes,
each has its own root `<state>/lb2/` holding haproxy.cfg, haproxy.sock and
haproxy-server-state (PID file `run/haproxy-lb2.pid`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sidebyside.errors import InputError

VIP = "127.0.0.10"
SIDE_ADDRESS = {"old": "127.0.0.11", "new": "127.0.0.12"}
DB_PORT = 13306
SERVICE_PORT = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774,
                "neutron": 9696, "cinder": 8776, "heat": 8004, "horizon": 80}
# Services the lab can serve over HTTP with their workers; nova only beside placement and
# neutron (it needs both to boot a server), else it is installed database-only.
SERVED_SERVICES = ("keystone", "glance", "placement", "nova", "neutron", "cinder", "heat",
                   "horizon")
# A service whose /etc directory is not named after it (the distributions' name).
ETC_NAME = {"horizon": "openstack-dashboard"}
NOVA_NEEDS = ("placement", "neutron")


@dataclass(frozen=True)
class ComputeNode:
    """One of the lab's compute nodes: nova-compute of the OLD release with nova's fake
    virt driver (the control plane is what is upgraded; the hypervisor is the one
    stand-in, shipped by nova), until `sbs computes upgrade` moves it on. `dir`: its
    inventory host name and its root under the state dir (its own machine id);
    `nova_host`: the `host` it registers as, one neutron's test mechanism driver
    (shipped in neutron's wheel, neutron/tests/unit/plugins/ml2/drivers/
    mechanism_test.py) binds ports for: the lab runs no L2 agent."""

    dir: str
    nova_host: str

    @property
    def component(self) -> str:
        return f"{self.dir}-nova-compute"


COMPUTE_NODES = (ComputeNode("compute1", "host-bridge-filter"),
                 ComputeNode("compute2", "host-ovs-no_filter"))


def compute_node(name: str) -> ComputeNode:
    """The lab's compute node `name`. Raises InputError."""
    for node in COMPUTE_NODES:
        if node.dir == name:
            return node
    raise InputError(f"the lab has no compute node {name!r} (it has "
                     f"{', '.join(n.dir for n in COMPUTE_NODES)})")
CONTROLLER = {"old": "old-ctl1", "new": "new-ctl1"}
HAPROXY_HOST = "lb1"
REGION = "RegionOne"
SIDES = ("old", "new")


# Last octet of the first HAProxy node; the other nodes, then the old controllers, then
# the new ones follow (default: VIP .10, old .11, new .12).
FIRST_HOST = 10
MAX_CONTROLLERS = 9
MAX_HAPROXY_NODES = 4


def backend_name(service: str) -> str:
    return f"{service}_api"


@dataclass(frozen=True)
class Controller:
    """One controller of one side: its inventory name, address and directory."""

    side: str
    index: int                       # 1-based
    name: str                        # the inventory host: old-ctl2
    address: str
    dir: str                         # root under the state dir; prefix of its components

    def component(self, service: str) -> str:
        """The name of its PID and log files for `service`: old-keystone, old-ctl2-keystone."""
        return f"{self.dir}-{service}"


@dataclass(frozen=True)
class Balancer:
    """One HAProxy node: its inventory name, the address its frontends bind, and its
    directory under the state dir ("" for the default lab's only node)."""

    index: int
    name: str
    address: str
    dir: str

    @property
    def component(self) -> str:
        return f"haproxy-{self.dir}" if self.dir else "haproxy"


@dataclass(frozen=True)
class Topology:
    """How many controllers per side and HAProxy nodes the lab runs, and where.

    Addresses are `<address_base>.<n>` from FIRST_HOST on: the HAProxy nodes, then the
    old controllers, then the new ones. The first node's address is the lab's VIP (as
    if keepalived held it there); each side's MariaDB listens on its first controller's
    address. Service ports are the usual ones plus `port_offset`.
    """

    controllers: int = 1
    haproxy_nodes: int = 1
    address_base: str = "127.0.0"
    db_port: int = DB_PORT
    port_offset: int = 0

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every invalid value; empty when valid. Pure."""
        found = []
        if not 1 <= self.controllers <= MAX_CONTROLLERS:
            found.append(("controllers", f"must be 1 to {MAX_CONTROLLERS}, "
                                         f"not {self.controllers}"))
        if not 1 <= self.haproxy_nodes <= MAX_HAPROXY_NODES:
            found.append(("haproxy_nodes", f"must be 1 to {MAX_HAPROXY_NODES}, "
                                           f"not {self.haproxy_nodes}"))
        octets = self.address_base.split(".")
        if len(octets) != 3 or not all(o.isdigit() and int(o) <= 255 for o in octets) \
                or octets[0] != "127":
            found.append(("address_base", f"must be three octets of a loopback address "
                                          f"such as 127.0.2, not {self.address_base!r}"))
        if not 1024 <= self.db_port <= 65535:
            found.append(("db_port", f"must be 1024 to 65535, not {self.db_port}"))
        if not 0 <= self.port_offset <= 65535 - max(SERVICE_PORT.values()):
            found.append(("port_offset", f"{self.port_offset} puts service ports out of "
                                         "range"))
        return found

    def _address(self, offset: int) -> str:
        return f"{self.address_base}.{FIRST_HOST + offset}"

    @property
    def balancers(self) -> tuple[Balancer, ...]:
        many = self.haproxy_nodes > 1
        return tuple(Balancer(index=i, name=f"lb{i}" if many else HAPROXY_HOST,
                              address=self._address(i - 1), dir=f"lb{i}" if many else "")
                     for i in range(1, self.haproxy_nodes + 1))

    @property
    def vip(self) -> str:
        return self.balancers[0].address

    def side_controllers(self, side: str) -> tuple[Controller, ...]:
        if side not in SIDES:
            raise ValueError(f"side must be old or new, not {side!r}")
        start = self.haproxy_nodes + (0 if side == "old" else self.controllers)
        many = self.controllers > 1
        return tuple(Controller(side=side, index=i, name=f"{side}-ctl{i}",
                                address=self._address(start + i - 1),
                                dir=f"{side}-ctl{i}" if many else side)
                     for i in range(1, self.controllers + 1))

    @property
    def all_controllers(self) -> tuple[Controller, ...]:
        return tuple(c for side in SIDES for c in self.side_controllers(side))

    def controller(self, side: str, name: str | None = None) -> Controller:
        """The side's controller called `name` (its first one when None).

        Raises ValueError naming the side's controllers when there is no such one.
        """
        controllers = self.side_controllers(side)
        if name is None:
            return controllers[0]
        for controller in controllers:
            if controller.name == name:
                return controller
        raise ValueError(f"no controller {name!r} on the {side} side "
                         f"({', '.join(c.name for c in controllers)})")

    def db_address(self, side: str) -> str:
        return self.side_controllers(side)[0].address

    def port(self, service: str) -> int:
        return SERVICE_PORT[service] + self.port_offset


DEFAULT_TOPOLOGY = Topology()
# Named topologies of `sbs lab up --topology`: ha3 is the production shape (three
# controllers per side behind two HAProxy nodes), on its own addresses and ports so
# that it runs beside a default lab.
TOPOLOGIES = {
    "single": DEFAULT_TOPOLOGY,
    "ha3": Topology(controllers=3, haproxy_nodes=2, address_base="127.0.2",
                    db_port=23306, port_offset=10000),
    # the whole cloud (nova with its workers, placement, neutron) beside a default lab
    "cloud": Topology(address_base="127.0.3", db_port=33306, port_offset=20000),
}


@dataclass(frozen=True)
class LabLayout:
    state_dir: Path
    topology: Topology = field(default=DEFAULT_TOPOLOGY, compare=False)

    @property
    def lab_file(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    def secret_file(self, name: str) -> Path:
        return self.secrets_dir / f"{name}.password"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    # `where` below is a controller's `dir`: the side's name in the default lab
    # ("old"), the controller's name with several per side ("old-ctl2").
    def root(self, where: str) -> Path:
        return self.state_dir / where

    def etc(self, where: str, service: str) -> Path:
        return self.root(where) / "etc" / ETC_NAME.get(service, service)

    def dashboard_share(self, where: str) -> Path:
        """`<root>/usr/share/openstack-dashboard`: horizon's manage.py and the `local`
        package whose local_settings.py is the /etc one, as the distributions lay it."""
        return self.root(where) / "usr" / "share" / "openstack-dashboard"

    def dashboard_static(self, where: str) -> Path:
        """Horizon's STATIC_ROOT: collected and compressed static files."""
        return self.var_lib(where, "openstack-dashboard") / "static"

    def var_lib(self, where: str, service: str) -> Path:
        return self.root(where) / "var" / "lib" / service

    def mariadb_dir(self, side: str) -> Path:
        """The side's one MariaDB, in its first controller's root."""
        return self.root(self.topology.side_controllers(side)[0].dir) / "var" / "lib" / "mysql"

    @property
    def glance_images(self) -> Path:
        """The image store both glance servers use, as production shares ceph or NFS:
        glance's database records each image's location as a literal file:// URL."""
        return self.state_dir / "shared" / "glance" / "images"

    def bin_dir(self, where: str) -> Path:
        """`<root>/usr/bin`: links to the side's release venv, as a package installs them."""
        return self.root(where) / "usr" / "bin"

    def release_dir(self, where: str, service: str, release: str) -> Path:
        """`<root>/opt/openstack/<service>-<release>`: one release's install on a
        controller (the venv), whose bin/ runs that release's db_sync."""
        return self.root(where) / "opt" / "openstack" / f"{service}-{release}"

    @property
    def ansible_inventory(self) -> Path:
        return self.state_dir / "ansible-inventory.yml"

    @property
    def ansible_computes_inventory(self) -> Path:
        return self.state_dir / "ansible-computes.yml"

    def venv_link(self, service: str, release: str) -> Path:
        """`<state>/venvs/<service>-<release>`: a stable name for a cached venv."""
        return self.state_dir / "venvs" / f"{service}-{release}"

    def balancer_root(self, balancer: Balancer | None = None) -> Path:
        """Where an HAProxy node keeps its files (the state dir for the default one)."""
        return self.state_dir / balancer.dir if balancer and balancer.dir else self.state_dir

    def haproxy_cfg_of(self, balancer: Balancer | None = None) -> Path:
        return self.balancer_root(balancer) / "haproxy.cfg"

    def haproxy_socket_of(self, balancer: Balancer | None = None) -> Path:
        return self.balancer_root(balancer) / "haproxy.sock"

    def haproxy_state_file_of(self, balancer: Balancer | None = None) -> Path:
        return self.balancer_root(balancer) / "haproxy-server-state"

    @property
    def haproxy_cfg(self) -> Path:
        return self.haproxy_cfg_of(self.topology.balancers[0])

    @property
    def haproxy_socket(self) -> Path:
        return self.haproxy_socket_of(self.topology.balancers[0])

    @property
    def haproxy_state_file(self) -> Path:
        return self.haproxy_state_file_of(self.topology.balancers[0])

    def haproxy_write_freeze_map_of(self, balancer: Balancer | None = None) -> Path:
        """The map of cutover's read-only window (empty unless a cutover is in it)."""
        return self.balancer_root(balancer) / "haproxy-write-freeze.map"

    @property
    def haproxy_write_freeze_map(self) -> Path:
        return self.haproxy_write_freeze_map_of(self.topology.balancers[0])

    @property
    def inventory(self) -> Path:
        return self.state_dir / "sbs.yaml"

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"
