"""traffic/templates.py: the HAProxy configuration (both sides declared, new disabled)
and the keepalived configuration."""

from __future__ import annotations

import pytest

from sidebyside.errors import InputError
from sidebyside.traffic.templates import (
    Backend,
    Frontend,
    HaproxyGlobals,
    Server,
    render_haproxy_cfg,
    render_keepalived_conf,
)


def test_haproxy_cfg_declares_both_sides_new_disabled() -> None:
    text = render_haproxy_cfg(
        [Frontend("k_vip", "127.0.0.10:5000", "k_api")],
        [Backend("k_api", [Server("old-ctl1", "127.0.0.11", 5000),
                           Server("new-ctl1", "127.0.0.12", 5000, side="new")],
                 check_path="/v3")],
        HaproxyGlobals(admin_socket="/run/x.sock", state_file="/var/lib/x-state"))
    lines = [line.strip() for line in text.splitlines()]
    assert "server old-ctl1 127.0.0.11:5000 check inter 2s fall 2 rise 2  # old" in lines
    assert "server new-ctl1 127.0.0.12:5000 check inter 2s fall 2 rise 2 disabled  # new" \
        in lines
    assert "stats socket /run/x.sock mode 600 level admin expose-fd listeners" in lines
    assert "server-state-file /var/lib/x-state" in lines
    assert "load-server-state-from-file global" in lines


def test_haproxy_cfg_refuses_one_sided_backends() -> None:
    with pytest.raises(InputError, match="old and new"):
        render_haproxy_cfg([], [Backend("k_api", [Server("a", "127.0.0.11", 1)])])
    with pytest.raises(InputError, match="undeclared|not declared"):
        render_haproxy_cfg([Frontend("f", "127.0.0.1:1", "nope")], [])


def test_keepalived_conf() -> None:
    text = render_keepalived_conf(instance="VI_1", interface="eth0", vip="10.0.0.10",
                                  priority=150, track_file="/etc/keepalived/sbs-priority")
    assert "10.0.0.10/32 dev eth0" in text
    assert "file /etc/keepalived/sbs-priority" in text and "priority 150" in text
    with pytest.raises(InputError):
        render_keepalived_conf(instance="VI_1", interface="eth0", vip="nope", priority=1,
                               track_file="/x")
    with pytest.raises(InputError):
        render_keepalived_conf(instance="VI_1", interface="eth0", vip="10.0.0.1",
                               priority=255, track_file="/x")
