"""Which release transitions upstream supports, and the via path for the rest.

OpenStack releases are YYYY.1 and YYYY.2. Upstream tests N -> N+1 and, since
2023.1, skip-level upgrades between SLURP releases (the .1 releases): YYYY.1 ->
(YYYY+1).1. Anything longer must pass through intermediate releases (`via`).
"""

from __future__ import annotations


def parse(release: str) -> tuple[int, int]:
    year, half = release.split(".")
    return int(year), int(half)


def successor(release: str) -> str:
    year, half = parse(release)
    return f"{year}.2" if half == 1 else f"{year + 1}.1"


def is_slurp(release: str) -> bool:
    return parse(release)[1] == 1


def hop_supported(old: str, new: str) -> bool:
    """True for N -> N+1 and SLURP -> next SLURP."""
    if successor(old) == new:
        return True
    return is_slurp(old) and is_slurp(new) and parse(new)[0] == parse(old)[0] + 1


def unsupported_hops(path: list[str]) -> list[tuple[str, str]]:
    """The hops of [from, via..., to] that upstream does not support."""
    return [(a, b) for a, b in zip(path, path[1:], strict=False) if not hop_supported(a, b)]


def suggest_via(old: str, new: str) -> list[str]:
    """The shortest list of intermediate releases making every hop supported."""
    via: list[str] = []
    current = old
    while not hop_supported(current, new):
        year, half = parse(current)
        nxt = f"{year + 1}.1" if is_slurp(current) else successor(current)
        if parse(nxt) >= parse(new):
            nxt = successor(current)
        via.append(nxt)
        current = nxt
    return via
