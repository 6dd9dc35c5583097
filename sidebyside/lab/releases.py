"""What the lab knows about OpenStack releases beyond the service catalog.

Each coordinated release ships one major version of every service (keystone 25 is
2024.1 "Caracal"): the majors and the PyPI distribution names are service facts, kept
in `sidebyside/services/catalog.yaml` (`package: {distribution, majors}`) and read
from there. The exact version and every library version come from the lock file
committed under `sidebyside/lab/locks/`, produced from the release's
upper-constraints by `scripts/lab_make_locks.py`. Only what is the lab's own stays
here: the series names, the services it locks, the releases it has locks for and the
requirements the services need but do not declare.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidebyside.errors import InputError
from sidebyside.services.catalog import SERVICE_ORDER, service

LAB_SERVICES: tuple[str, ...] = ("keystone", "glance", "placement", "nova", "neutron",
                                   "cinder", "horizon", "heat")

# What the services need at run time but do not declare: the lab's databases are
# MariaDB reached through PyMySQL, python-memcached backs oslo.cache's default, and
# pbr/stevedore of the older releases import pkg_resources, gone from setuptools 81.
EXTRA_REQUIREMENTS: tuple[str, ...] = ("PyMySQL", "python-memcached", "setuptools<81")
# What one service needs in the lab beyond those: cinder-volume's backend, cinder's own
# fake driver (cinder/tests/fake_driver.py), imports cinder.tests.unit, whose package
# imports the `fixtures` test library (a test requirement of cinder, not a runtime one).
SERVICE_EXTRA_REQUIREMENTS: dict[str, tuple[str, ...]] = {"cinder": ("fixtures",)}


# What building a source distribution may use: some of horizon's XStatic packages are
# sdists only (XStatic-Angular-Schema-Form 0.8.13.0, XStatic-Angular-FileUpload
# 12.0.4.0) whose setup.py imports pkg_resources, gone from setuptools 81; uv builds
# them in an isolated environment with the newest setuptools unless told otherwise.
BUILD_CONSTRAINTS: tuple[str, ...] = ("setuptools<81",)


def extra_requirements(service_name: str) -> tuple[str, ...]:
    """What the lab installs beside `service_name`'s own requirement."""
    return (*EXTRA_REQUIREMENTS, *SERVICE_EXTRA_REQUIREMENTS.get(service_name, ()))


# Lab services with no major per release in the catalog: the release's upper-constraints
# pin their version.
UNVERSIONED_SERVICES: tuple[str, ...] = ("horizon",)

SERIES: dict[str, str] = {
    "2023.1": "antelope", "2023.2": "bobcat", "2024.1": "caracal", "2024.2": "dalmatian",
    "2025.1": "epoxy", "2025.2": "flamingo", "2026.1": "gazpacho",
}

# Releases whose upper-constraints the lab has locked (see sidebyside/lab/locks/).
LOCKED_RELEASES: tuple[str, ...] = ("2023.1", "2023.2", "2024.1", "2025.1", "2025.2", "2026.1")


@dataclass(frozen=True)
class Release:
    name: str  # "2024.1"
    series: str  # "caracal"

    @property
    def majors(self) -> dict[str, int]:
        """service -> major version of its PyPI distribution in this release (the
        catalog's `package.majors`; services without one are not installable)."""
        majors = {}
        for name in SERVICE_ORDER:
            package = service(name).package
            if package is not None and self.name in package.majors:
                majors[name] = package.majors[self.name]
        return majors

    def requirement(self, service_name: str) -> str:
        """The PEP 508 requirement for `service_name` in this release: its major's
        range, or for a service whose major does not move once per release (horizon's
        25.x spans 2024.2 to 2026.1) the bare distribution, whose version the release's
        upper-constraints pin (`horizon===25.3.2` in 2025.1's).

        Raises InputError for a service the lab cannot install.
        """
        majors = self.majors
        package = service(service_name).package if (
            service_name in majors or service_name in UNVERSIONED_SERVICES) else None
        if package is not None and service_name in UNVERSIONED_SERVICES:
            return package.distribution
        if package is None:
            raise InputError(f"release {self.name}: the lab cannot install service "
                             f"{service_name!r}; it knows {', '.join(sorted(majors))}")
        major = majors[service_name]
        return f"{package.distribution}>={major}.0.0,<{major + 1}"


RELEASES: dict[str, Release] = {name: Release(name, series) for name, series in SERIES.items()}


def release(name: str) -> Release:
    """Raises InputError for a release the lab does not know."""
    try:
        return RELEASES[name]
    except KeyError:
        raise InputError(f"unknown release {name!r}; the lab knows "
                         f"{', '.join(RELEASES)}") from None
