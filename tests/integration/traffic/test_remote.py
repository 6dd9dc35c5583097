"""The HAProxy node reached over real ssh (the python3 relay on the far side), with
the sshd fixture of the remote transport tests."""

from __future__ import annotations

import pytest

from sidebyside.remote.ssh import SshHost
from sidebyside.traffic.fleet import HaproxyFleet
from sidebyside.traffic.haproxy import HaproxyNode, HostRelayChannel, parse_servers_state
from sidebyside.traffic.probe import DirectHttpCheck
from sidebyside.traffic.switch import ServiceRoute, SwitchSettings, TrafficSwitch
from sidebyside.traffic.waiting import wait_until
from tests.integration.traffic.conftest import (
    BACKEND,
    SERVER_ADDRESS,
    HaproxyUnderTest,
)
from tests.integration.traffic.test_haproxy import get

try:
    from tests.integration.remote.conftest import Sshd, sshd  # noqa: F401 (fixture)
except ImportError:  # pragma: no cover
    pytest.skip("the sshd fixture of tests/integration/remote is not available",
                allow_module_level=True)

pytestmark = pytest.mark.integration


def test_switch_over_ssh(haproxy: HaproxyUnderTest, sshd: Sshd) -> None:
    with SshHost("lb-ssh", sshd.address, port=sshd.port, user=sshd.user,
                 identity=str(sshd.client_key), known_hosts=str(sshd.known_hosts)) as host:
        node = HaproxyNode.on_host(host, haproxy.socket)
        assert isinstance(node.channel, HostRelayChannel)
        assert node.servers(BACKEND, ["old"])["old"].admin == "ready"
        lines: list[str] = []
        switch = TrafficSwitch(
            fleet=HaproxyFleet([node], state_files={"lb-ssh": haproxy.state_file}),
            routes={"svc": ServiceRoute("svc", BACKEND, ("old",), ("new",))},
            check_server=DirectHttpCheck(via=host), wait=wait_until, log=lines.append,
            settings=SwitchSettings(drain_timeout=5, poll_interval=0.1))
        switch.switch_to_new("svc")
        assert get(haproxy.frontend_url) == (200, "new")
        saved = parse_servers_state(open(haproxy.state_file).read())  # written over ssh
        assert {s.server: s.admin for s in saved} == {"old": "maint", "new": "ready"}
        new_server = f"checked directly: GET http://{SERVER_ADDRESS['new']}"
        assert any(new_server in line for line in lines)
