"""The lab's deploy adapter: its playbook, and the ansible inventory that reaches its
new controllers (local connection, or ssh to an sshd on loopback). Pure: renders text.

The lab needs no deploy kind of its own: its sbs inventory points the production
`deploy.ansible` kind at these:

    deploy:
      ansible:
        playbook: <LAB_PLAYBOOK>
        inventory: <state>/ansible-inventory.yml   # render_lab_inventory(...)
        limit: new
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

LAB_PLAYBOOK = Path(str(resources.files("sidebyside.lab").joinpath("playbooks",
                                                                    "new-controller.yml")))
# `sbs computes upgrade` of the lab: one compute node moved to the target release.
LAB_COMPUTE_PLAYBOOK = LAB_PLAYBOOK.with_name("compute-upgrade.yml")
LAB_INVENTORY_TEMPLATE = "inventory.yml.j2"
# An ansible expression, rendered into the inventory as is.
LAB_INTERPRETER = "{{ sbs_python | default(ansible_playbook_python) }}"


@dataclass(frozen=True)
class LabAnsibleHost:
    name: str
    address: str
    root: str
    connection: str = "local"          # local or ssh
    port: int = 22
    user: str = "root"
    identity: str | None = None
    known_hosts: str | None = None     # a known_hosts file checked strictly
    # Replaces ansible's default ssh_args (which keep a control master alive for 60 s
    # after the run); e.g. "-o ControlMaster=no" where no process may outlive the run.
    ssh_args: str | None = None

    @property
    def ssh_common_args(self) -> str:
        options = ["-o BatchMode=yes"]
        if self.known_hosts:
            options += [f"-o UserKnownHostsFile={self.known_hosts}",
                        "-o StrictHostKeyChecking=yes"]
        return " ".join(options)


def render_lab_inventory(hosts: Sequence[LabAnsibleHost], group: str = "new") -> str:
    """The YAML text of an ansible inventory with `hosts` in `group`.

    Raises ValueError for a connection other than local or ssh.
    """
    for host in hosts:
        if host.connection not in ("local", "ssh"):
            raise ValueError(f"host {host.name}: connection must be local or ssh, "
                             f"not {host.connection!r}")
    template_text = LAB_PLAYBOOK.with_name(LAB_INVENTORY_TEMPLATE).read_text()
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                     keep_trailing_newline=True)
    template = environment.from_string(template_text)
    return template.render(hosts=hosts, interpreter=LAB_INTERPRETER, group=group) + "\n"
