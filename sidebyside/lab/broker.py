"""The lab's message bus: one RabbitMQ vhost per side on the machine's broker (adapter).

Each lab has a user of its own and two vhosts, named after its state dir so that two
labs (a developer's and the tests') never share a queue:

    sbs-lab-<8 hex>          the user (password: `<state>/secrets/rabbit.password`)
    sbs-lab-<8 hex>-old      the old side's vhost: its services and the compute node
    sbs-lab-<8 hex>-new      the new side's: its workers never see the old side's queues

The inventory says so (`old.broker`, `new.broker`), and sbs's pre-flight refuses an
inventory whose new workers would join the old side's bus (`sides.bus_problem`).
Everything goes through `rabbitmqctl` on this machine; the password only ever on its
standard input.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass

from sidebyside.errors import StepFailed
from sidebyside.lab.layout import LabLayout

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 5672
TIMEOUT = 60.0


def _tag(layout: LabLayout) -> str:
    return "sbs-lab-" + hashlib.sha256(str(layout.state_dir).encode()).hexdigest()[:8]


def user(layout: LabLayout) -> str:
    return _tag(layout)


def vhost(layout: LabLayout, side: str) -> str:
    return f"{_tag(layout)}-{side}"


def transport_url(layout: LabLayout, side: str, password: str) -> str:
    """The side's oslo.messaging transport URL (it holds the password: config files only)."""
    return f"rabbit://{user(layout)}:{password}@{BROKER_HOST}:{BROKER_PORT}/{vhost(layout, side)}"


def _ctl(*args: str, stdin: str | None = None, ok_missing: bool = False) -> str:
    """`rabbitmqctl -q <args>`; its output. Raises StepFailed."""
    argv = ["rabbitmqctl", "-q", *args]
    try:
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                timeout=TIMEOUT, stdin=None if stdin is not None
                                else subprocess.DEVNULL)
    except FileNotFoundError:
        raise StepFailed("lab-broker", "rabbitmqctl is not installed (`make setup` "
                         "installs and starts RabbitMQ)") from None
    except subprocess.TimeoutExpired:
        raise StepFailed("lab-broker", f"`rabbitmqctl {args[0]}` timed out after "
                         f"{TIMEOUT:.0f} s") from None
    if result.returncode != 0:
        text = (result.stderr or result.stdout).strip()
        if ok_missing and re.search(r"not[_ ]found|does not exist|no_such", text):
            return ""
        raise StepFailed("lab-broker", f"`rabbitmqctl {args[0]}` exited "
                         f"{result.returncode}: {text.splitlines()[-1] if text else ''}")
    return result.stdout


def ensure(layout: LabLayout, password: str) -> None:
    """The lab's user (its password set from the secret) and both vhosts, the user
    allowed everything on them and nothing elsewhere. Idempotent. Raises StepFailed."""
    name = user(layout)
    existing = {line.split("\t")[0] for line in _ctl("list_users").splitlines()[1:]}
    if name in existing:
        _ctl("change_password", name, stdin=password)
    else:
        _ctl("add_user", name, stdin=password)
    vhosts = set(_ctl("list_vhosts").split()[1:])
    for side in ("old", "new"):
        if vhost(layout, side) not in vhosts:
            _ctl("add_vhost", vhost(layout, side))
        _ctl("set_permissions", "-p", vhost(layout, side), name, ".*", ".*", ".*")


def remove(layout: LabLayout) -> None:
    """Both vhosts (their queues with them) and the user; absent ones are fine.
    Raises StepFailed."""
    for side in ("old", "new"):
        _ctl("delete_vhost", vhost(layout, side), ok_missing=True)
    _ctl("delete_user", user(layout), ok_missing=True)


@dataclass(frozen=True)
class Consumer:
    """One consumer on a vhost: its queue and the OS process behind its connection
    (oslo.messaging names each connection `<program>:<pid>:<uuid>`)."""

    queue: str
    connection: str
    pid: int | None


CONNECTION_PID = re.compile(r":(\d+)(?::|$)")


def consumers(vhost_name: str) -> list[Consumer]:
    """Every consumer on `vhost_name`, with the PID its connection names. Raises
    StepFailed."""
    channels = {}
    for row in json.loads(_ctl("list_channels", "-p", vhost_name, "--formatter", "json",
                               "pid", "connection") or "[]"):
        channels[str(row.get("pid"))] = str(row.get("connection"))
    names = {}
    for row in json.loads(_ctl("list_connections", "-p", vhost_name, "--formatter", "json",
                               "pid", "client_properties") or "[]"):
        properties = row.get("client_properties") or []
        if isinstance(properties, dict):
            names[str(row.get("pid"))] = str(properties.get("connection_name", ""))
        else:  # [[key, type, value], ...]
            names[str(row.get("pid"))] = next(
                (str(p[2]) for p in properties if p and p[0] == "connection_name"), "")
    found = []
    for row in json.loads(_ctl("list_consumers", "-p", vhost_name, "--formatter", "json",
                               "queue_name", "channel_pid") or "[]"):
        name = names.get(channels.get(str(row.get("channel_pid")), ""), "")
        match = CONNECTION_PID.search(name)
        found.append(Consumer(queue=str(row.get("queue_name")), connection=name,
                              pid=int(match.group(1)) if match else None))
    return found
