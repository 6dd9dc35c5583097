"""Whether the compute nodes registered with the old control plane can stay on their
release under the new one: the rule nova's own upgrade check applies, found before
prepare starts, naming each host.

A control plane of release N accepts compute services from the last SLURP release
before N on (N-1, and N-2 between SLURP releases): nova-conductor refuses to start
beside older ones and `nova-status upgrade check` fails ("Current Nova version does not
support computes older than ..."). The version each nova-compute runs is the one it
records in its cell database's `services` table; the catalog names the version of each
release (`compute_service.versions`).

Pure: the rows come in, findings go out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidebyside.services.releases import parse


@dataclass(frozen=True)
class RegisteredCompute:
    """One service row of a nova cell database (`services`, not deleted)."""

    host: str
    version: int
    database: str
    disabled: bool = False
    forced_down: bool = False
    binary: str = "nova-compute"

    @property
    def in_service(self) -> bool:
        return not (self.disabled or self.forced_down)


@dataclass(frozen=True)
class ComputeFinding:
    """What pre-flight says of one host: `ok`, `warning` or `blocker`."""

    host: str
    severity: str
    message: str
    advice: str = ""


def oldest_accepted_release(target: str) -> str:
    """The oldest release whose computes a control plane of `target` accepts: the last
    SLURP release (YYYY.1) before it."""
    year, half = parse(target)
    return f"{year - 1}.1" if half == 1 else f"{year}.1"


def releases_of(version: int, versions: dict[str, int]) -> list[str]:
    """The releases whose code records `version` (several share one: 2023.1-2024.1)."""
    return [release for release, v in versions.items() if v == version]


def judge_computes(computes: list[RegisteredCompute], target: str,
                   versions: dict[str, int], *, binary: str = "nova-compute"
                   ) -> list[ComputeFinding]:
    """One finding per registered compute: a blocker for a version older than the
    target accepts (a disabled or forced-down one too: nova counts every row), a warning
    where the catalog does not know the target's oldest accepted version."""
    oldest = oldest_accepted_release(target)
    required = versions.get(oldest)
    findings = []
    for compute in sorted(computes, key=lambda c: c.host):
        runs = releases_of(compute.version, versions)
        described = f"{binary} service version {compute.version}" + (
            f" ({', '.join(runs)})" if runs else "")
        state = "" if compute.in_service else " (disabled or forced down: still counted)"
        if required is None:
            findings.append(ComputeFinding(
                compute.host, "warning", f"{described}; sbs does not know the oldest "
                f"version nova {target} accepts ({oldest}'s)",
                "`nova-status upgrade check` of the new release decides during prepare"))
        elif compute.version < required:
            findings.append(ComputeFinding(
                compute.host, "blocker", f"{described}{state}: nova {target} accepts "
                f"computes from {oldest} (version {required}) on",
                f"upgrade its {binary} to {oldest} or later before the cutover, or "
                f"delete its service record if the host is gone"))
        else:
            findings.append(ComputeFinding(
                compute.host, "ok", f"{described}: accepted by nova {target} "
                f"(from {oldest}, version {required}, on)"))
    return findings


def undeclared_computes(computes: list[RegisteredCompute], declared: set[str]
                        ) -> list[str]:
    """Hosts registered as compute services that the inventory's computes do not name
    (by their nova host): at cutover they would not follow the control plane's bus."""
    return sorted({c.host for c in computes} - declared)
