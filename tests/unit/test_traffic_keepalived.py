"""traffic/keepalived.py: which host holds the VIP (`ip addr` parsing) and the track
file values that move it."""

from __future__ import annotations

import pytest

from sidebyside.traffic.keepalived import holds_address, track_file_values

IP_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.213.0.2/24 scope global eth0\\       valid_lft forever
2: eth0    inet 10.213.0.100/24 scope global secondary eth0\\       valid_lft forever
2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
"""


def test_holds_address() -> None:
    assert holds_address(IP_ADDR, "10.213.0.100")
    assert holds_address(IP_ADDR, "10.213.0.100/24")
    assert not holds_address(IP_ADDR, "10.213.0.10")
    assert holds_address(IP_ADDR, "fe80::1")


def test_track_file_values() -> None:
    assert track_file_values("new", 100) == {"new": "0\n", "old": "-100\n"}
    assert track_file_values("old", 50) == {"old": "0\n", "new": "-50\n"}
    with pytest.raises(ValueError):
        track_file_values("new", 0)
