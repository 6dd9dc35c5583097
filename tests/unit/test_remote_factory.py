"""HostSpec -> Host, and host root prefixes."""

from __future__ import annotations

import pytest

from sidebyside.errors import InputError
from sidebyside.remote.factory import HostSpec, connect, jump_target, rooted
from sidebyside.remote.local import LocalHost
from sidebyside.remote.netns import NetnsHost
from sidebyside.remote.ssh import SshHost


def test_local_spec() -> None:
    host = connect(HostSpec(name="lab", transport="local", sudo=True))
    assert isinstance(host, LocalHost) and host.name == "lab" and host.sudo is True


def test_netns_spec() -> None:
    host = connect(HostSpec(name="lb1", transport="netns", netns="sbs-lb1"))
    assert isinstance(host, NetnsHost) and host.netns == "sbs-lb1"


def test_ssh_spec_carries_every_setting() -> None:
    spec = HostSpec(name="old-ctl1", address="10.0.0.11", user="root", port=2222,
                    identity="/k", jump="bastion", options={"ConnectTimeout": "3"})
    host = connect(spec, control_dir="/tmp/sbs-unit")
    assert isinstance(host, SshHost)
    assert (host.address, host.user, host.port, host.identity, host.jump) == (
        "10.0.0.11", "root", 2222, "/k", "bastion")
    assert host.options == {"ConnectTimeout": "3"}


def test_specs_are_hashable_and_immutable() -> None:
    spec = HostSpec(name="a", address="10.0.0.1", options={"X": "1"})
    assert hash(spec) == hash(HostSpec(name="a", address="10.0.0.1", options={"X": "1"}))
    with pytest.raises(AttributeError):
        spec.name = "b"  # type: ignore[misc]


@pytest.mark.parametrize("spec,field", [
    (HostSpec(name="c1"), "hosts.c1.address"),
    (HostSpec(name="n1", transport="netns"), "hosts.n1.netns"),
    (HostSpec(name="x1", address="h", transport="telnet"), "hosts.x1.transport"),  # type: ignore[arg-type]
])
def test_incomplete_specs_name_the_field(spec: HostSpec, field: str) -> None:
    with pytest.raises(InputError, match=field):
        connect(spec)


@pytest.mark.parametrize("root,path,expected", [
    ("/", "/etc/keystone/keystone.conf", "/etc/keystone/keystone.conf"),
    (None, "/etc/keystone/keystone.conf", "/etc/keystone/keystone.conf"),
    ("/srv/lab/new-ctl1", "/etc/keystone/keystone.conf",
     "/srv/lab/new-ctl1/etc/keystone/keystone.conf"),
    ("/srv/lab/new-ctl1/", "/etc/x", "/srv/lab/new-ctl1/etc/x"),
    ("/srv/lab", "//etc//x/./y", "/srv/lab/etc/x/y"),
    ("/srv/lab", "/../../etc/shadow", "/srv/lab/etc/shadow"),
    ("/srv/lab", "/", "/srv/lab"),
])
def test_rooted(root: str | None, path: str, expected: str) -> None:
    assert rooted(root, path) == expected


@pytest.mark.parametrize("root,path", [("/srv", "etc/x"), ("srv", "/etc/x")])
def test_rooted_needs_absolute_paths(root: str, path: str) -> None:
    with pytest.raises(InputError):
        rooted(root, path)


def test_jump_naming_an_inventory_host_uses_its_address() -> None:
    hosts = {"bastion": HostSpec(name="bastion", address="192.0.2.5", user="ops", port=2200),
             "v6": HostSpec(name="v6", address="2001:db8::5")}
    assert jump_target("bastion", hosts) == "ops@192.0.2.5:2200"
    assert jump_target("v6", hosts) == "[2001:db8::5]"
    assert jump_target("alias-from-ssh-config", hosts) == "alias-from-ssh-config"
    spec = HostSpec(name="ctl", address="10.0.0.11", jump="bastion")
    host = connect(spec, hosts=hosts)
    assert isinstance(host, SshHost) and host.jump == "ops@192.0.2.5:2200"


def test_inventory_host_reaches_ssh_with_known_hosts_timeouts_and_allowance() -> None:
    from sidebyside.inventory import HostModel, WindowModel
    from sidebyside.remote.inventory_hosts import spec_of

    model = HostModel.model_validate({
        "address": "10.0.0.11", "allow_unsafe_ssh_options": True,
        "ssh": {"known_hosts": "/etc/sbs/known_hosts",
                "options": {"StrictHostKeyChecking": "accept-new"}}})
    window = WindowModel(max_downtime=60, ssh_connect_timeout=4, ssh_server_alive_interval=6)
    host = connect(spec_of("old-ctl1", model, window), control_dir="/tmp/sbs-unit")
    assert isinstance(host, SshHost)
    assert host.known_hosts == "/etc/sbs/known_hosts"
    assert (host.connect_timeout, host.server_alive_interval) == (4, 6)
    assert host.allow_unsafe_options is True


def test_unsafe_option_without_allowance_fails_when_the_host_is_built() -> None:
    spec = HostSpec(name="c1", address="10.0.0.11", options={"ProxyCommand": "nc %h %p"})
    with pytest.raises(InputError, match="ProxyCommand"):
        connect(spec)


def test_hosts_close_every_host_handed_out_even_when_one_close_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from sidebyside.inventory import parse_inventory
    from sidebyside.remote import inventory_hosts as hosts_module

    closed: list[str] = []

    class RecordedHost:
        def __init__(self, spec: HostSpec, **_: object) -> None:
            self.name = spec.name

        def close(self) -> None:
            closed.append(self.name)
            if self.name == "old-ctl1":
                raise OSError("control master would not stop")

    monkeypatch.setattr(hosts_module, "connect", RecordedHost)
    from pathlib import Path

    minimal = Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml"
    data = yaml.safe_load(minimal.read_text())
    with pytest.raises(OSError), hosts_module.Hosts(parse_inventory(data)) as hosts:
        assert hosts("old-ctl1") is hosts("old-ctl1")  # one per name
        hosts("new-ctl1")
        hosts("lb1")
    assert sorted(closed) == ["lb1", "new-ctl1", "old-ctl1"]
    hosts.close()  # nothing left open: a second close closes nothing again
    assert len(closed) == 3
