"""Where everything of one lab lives, and its fixed addresses: pure data.

    <state>/lab.json                  what `lab up` built (releases, venvs, services)
    <state>/secrets/                  generated passwords, mode 0700, files 0600
    <state>/run/<component>.pid       PIDs of every process the lab started
    <state>/log/<component>.log
    <state>/haproxy.cfg, haproxy.sock, haproxy-server-state
    <state>/sbs.yaml, clouds.yaml     the generated inventory and clouds
    <state>/old/ and <state>/new/     each controller's root, laid out like a package
                                      install: etc/keystone/keystone.conf, var/lib/...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIP = "127.0.0.10"
SIDE_ADDRESS = {"old": "127.0.0.11", "new": "127.0.0.12"}
DB_PORT = 13306
SERVICE_PORT = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774}
# Services the lab serves over HTTP; the others are installed database-only.
SERVED_SERVICES = ("keystone", "glance")
CONTROLLER = {"old": "old-ctl1", "new": "new-ctl1"}
HAPROXY_HOST = "lb1"
REGION = "RegionOne"
SIDES = ("old", "new")


def backend_name(service: str) -> str:
    return f"{service}_api"


@dataclass(frozen=True)
class LabLayout:
    state_dir: Path

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

    def root(self, side: str) -> Path:
        return self.state_dir / side

    def etc(self, side: str, service: str) -> Path:
        return self.root(side) / "etc" / service

    def var_lib(self, side: str, service: str) -> Path:
        return self.root(side) / "var" / "lib" / service

    def mariadb_dir(self, side: str) -> Path:
        return self.root(side) / "var" / "lib" / "mysql"

    @property
    def glance_images(self) -> Path:
        """The image store both glance servers use, as production shares ceph or NFS:
        glance's database records each image's location as a literal file:// URL."""
        return self.state_dir / "shared" / "glance" / "images"

    def bin_dir(self, side: str) -> Path:
        """`<root>/usr/bin`: links to the side's release venv, as a package installs them."""
        return self.root(side) / "usr" / "bin"

    def release_dir(self, side: str, service: str, release: str) -> Path:
        """`<root>/opt/openstack/<service>-<release>`: one release's install on a
        controller (the venv), whose bin/ runs that release's db_sync."""
        return self.root(side) / "opt" / "openstack" / f"{service}-{release}"

    @property
    def ansible_inventory(self) -> Path:
        return self.state_dir / "ansible-inventory.yml"

    def venv_link(self, service: str, release: str) -> Path:
        """`<state>/venvs/<service>-<release>`: a stable name for a cached venv."""
        return self.state_dir / "venvs" / f"{service}-{release}"

    @property
    def haproxy_cfg(self) -> Path:
        return self.state_dir / "haproxy.cfg"

    @property
    def haproxy_socket(self) -> Path:
        return self.state_dir / "haproxy.sock"

    @property
    def haproxy_state_file(self) -> Path:
        return self.state_dir / "haproxy-server-state"

    @property
    def haproxy_write_freeze_map(self) -> Path:
        """The map of cutover's read-only window (empty unless a cutover is in it)."""
        return self.state_dir / "haproxy-write-freeze.map"

    @property
    def inventory(self) -> Path:
        return self.state_dir / "sbs.yaml"

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"
