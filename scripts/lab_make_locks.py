#!/usr/bin/env python3
"""Regenerate the lab's lock files from OpenStack's upper-constraints.

    python scripts/lab_make_locks.py [--constraints-dir DIR] [--release R ...] [--service S ...]
                                     [--check]

For each release and service: `uv pip compile` of the service's requirement (its major
version for that release) plus PyMySQL and python-memcached (and what
`releases.SERVICE_EXTRA_REQUIREMENTS` adds: `fixtures` for cinder's fake driver),
constrained by `upper-constraints-<release>.txt` (sdists built with
`releases.BUILD_CONSTRAINTS`), for python 3.11, written to
`sidebyside/lab/locks/<service>-<release>.txt`. Only this script needs the
constraints files; the lab installs from the committed locks. With --check nothing is
written: the exit status is 1 when a committed lock differs from a fresh compile.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sidebyside.lab.lockfiles import (  # noqa: E402
    PYTHON_VERSION,
    lock_header,
    lock_name,
    lock_pins,
)
from sidebyside.lab.releases import (  # noqa: E402
    BUILD_CONSTRAINTS,
    LAB_SERVICES,
    LOCKED_RELEASES,
    extra_requirements,
    release,
)


def compile_lock(service: str, release_name: str, constraints: Path) -> str:
    """The lock text for one service and release. Raises CalledProcessError."""
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.in"
        requirements.write_text("\n".join(
            [release(release_name).requirement(service), *extra_requirements(service)]) + "\n")
        build_constraints = Path(tmp) / "build-constraints.txt"
        build_constraints.write_text("\n".join(BUILD_CONSTRAINTS) + "\n")
        result = subprocess.run(
            ["uv", "pip", "compile", str(requirements), "-c", str(constraints),
             "--build-constraints", str(build_constraints),
             "--python-version", PYTHON_VERSION, "--no-header", "--no-annotate",
             "--quiet"],
            check=True, capture_output=True, text=True)
    return lock_header(service, release_name) + result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--constraints-dir", type=Path,
                        default=REPO.parent / "shared" / "constraints")
    parser.add_argument("--release", action="append", dest="releases")
    parser.add_argument("--service", action="append", dest="services")
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed locks instead of writing them")
    args = parser.parse_args()
    out_dir = REPO / "sidebyside" / "lab" / "locks"
    failed = 0
    for release_name in args.releases or LOCKED_RELEASES:
        constraints = args.constraints_dir / f"upper-constraints-{release_name}.txt"
        if not constraints.is_file():
            print(f"{constraints}: not found", file=sys.stderr)
            failed += 1
            continue
        for service in args.services or LAB_SERVICES:
            try:
                text = compile_lock(service, release_name, constraints)
            except subprocess.CalledProcessError as exc:
                print(f"{service} {release_name}: uv pip compile failed:\n{exc.stderr}",
                      file=sys.stderr)
                failed += 1
                continue
            target = out_dir / lock_name(service, release_name)
            if args.check:
                current = target.read_text() if target.exists() else ""
                if lock_pins(current) != lock_pins(text):
                    print(f"{target.name}: differs from a fresh compile", file=sys.stderr)
                    failed += 1
                continue
            target.write_text(text)
            print(f"{target.name}: {len(lock_pins(text))} pins")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
