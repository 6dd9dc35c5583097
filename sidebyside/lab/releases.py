"""What the lab knows about OpenStack releases, as data.

Each coordinated release ships one major version of every service (keystone 25 is
2024.1 "Caracal"); the exact version and every library version come from the lock
file committed under `sidebyside/lab/locks/`, produced from the release's
upper-constraints by `scripts/lab_make_locks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidebyside.errors import InputError

LAB_SERVICES: tuple[str, ...] = ("keystone", "glance", "placement", "nova")

# PyPI distribution of each service (placement is published under another name).
DISTRIBUTION: dict[str, str] = {
    "keystone": "keystone",
    "glance": "glance",
    "placement": "openstack-placement",
    "nova": "nova",
    # Database-only in the lab (service upgrade tests): not part of LAB_SERVICES.
    "neutron": "neutron",
    "cinder": "cinder",
    "heat": "openstack-heat",
}

# What the services need at run time but do not declare: the lab's databases are
# MariaDB reached through PyMySQL, python-memcached backs oslo.cache's default, and
# pbr/stevedore of the older releases import pkg_resources, gone from setuptools 81.
EXTRA_REQUIREMENTS: tuple[str, ...] = ("PyMySQL", "python-memcached", "setuptools<81")


@dataclass(frozen=True)
class Release:
    name: str  # "2024.1"
    series: str  # "caracal"
    majors: dict[str, int]  # service -> major version of its PyPI distribution

    def requirement(self, service: str) -> str:
        """The PEP 508 requirement for `service` in this release.

        Raises InputError for a service the lab cannot install.
        """
        if service not in self.majors:
            raise InputError(f"release {self.name}: the lab cannot install service "
                             f"{service!r}; it knows {', '.join(sorted(self.majors))}")
        major = self.majors[service]
        return f"{DISTRIBUTION[service]}>={major}.0.0,<{major + 1}"


def _release(name: str, series: str, keystone: int, glance: int, placement: int,
             nova: int, neutron: int, cinder: int, heat: int) -> Release:
    return Release(name, series, {"keystone": keystone, "glance": glance,
                                  "placement": placement, "nova": nova,
                                  "neutron": neutron, "cinder": cinder, "heat": heat})


RELEASES: dict[str, Release] = {r.name: r for r in (
    _release("2023.1", "antelope", keystone=23, glance=26, placement=9, nova=27,
             neutron=22, cinder=22, heat=20),
    _release("2023.2", "bobcat", keystone=24, glance=27, placement=10, nova=28,
             neutron=23, cinder=23, heat=21),
    _release("2024.1", "caracal", keystone=25, glance=28, placement=11, nova=29,
             neutron=24, cinder=24, heat=22),
    _release("2024.2", "dalmatian", keystone=26, glance=29, placement=12, nova=30,
             neutron=25, cinder=25, heat=23),
    _release("2025.1", "epoxy", keystone=27, glance=30, placement=13, nova=31,
             neutron=26, cinder=26, heat=24),
    _release("2025.2", "flamingo", keystone=28, glance=31, placement=14, nova=32,
             neutron=27, cinder=27, heat=25),
    _release("2026.1", "gazpacho", keystone=29, glance=32, placement=15, nova=33,
             neutron=28, cinder=28, heat=26),
)}

# Releases whose upper-constraints the lab has locked (see sidebyside/lab/locks/).
LOCKED_RELEASES: tuple[str, ...] = ("2023.1", "2023.2", "2024.1", "2025.1", "2025.2", "2026.1")


def release(name: str) -> Release:
    """Raises InputError for a release the lab does not know."""
    try:
        return RELEASES[name]
    except KeyError:
        raise InputError(f"unknown release {name!r}; the lab knows "
                         f"{', '.join(RELEASES)}") from None
