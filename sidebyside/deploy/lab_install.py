"""Install one service release on a lab controller: the lab playbook's one custom step.

    python -m sidebyside.deploy.lab_install --service keystone --release 2026.1 \\
        --root /path/to/new [--link-tools] [--cache-root DIR]

Builds (or reuses) the release's venv with the lab's own builder
(`sidebyside.lab.venvs.ensure_venv`, from the committed locks), links it as
`<root>/opt/openstack/<service>-<release>` (that release's bin directory, e.g. for an
intermediate release's db_sync), and with --link-tools links its `<service>-*` tools
into `<root>/usr/bin` as a package would. Prints one JSON line:
`{"changed": bool, "venv": path, "links": [...]}` (what ansible reports as changed).
Exit status 2 for bad input (no lock for that release), 4 when the build fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sidebyside.errors import SbsError


def _link(link: Path, target: Path) -> bool:
    """Point `link` at `target` atomically; True when that changed anything."""
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(f".{link.name}.sbs-tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, link)
    return True


def install(service: str, release: str, root: Path, *, link_tools: bool,
            cache_root: Path) -> dict[str, object]:
    """Raises InputError (no lock) or StepFailed (the venv build failed)."""
    from sidebyside.lab.venvs import ensure_venv

    venv = ensure_venv(service, release, cache_root)
    changed = venv.built
    links = [root / "opt" / "openstack" / f"{service}-{release}"]
    changed |= _link(links[0], venv.path)
    if link_tools:
        for tool in sorted(venv.bin.glob(f"{service}-*")):
            link = root / "usr" / "bin" / tool.name
            changed |= _link(link, tool)
            links.append(link)
    return {"changed": changed, "venv": str(venv.path), "built": venv.built,
            "seconds": round(venv.seconds, 1), "links": [str(p) for p in links]}


def main(argv: list[str] | None = None) -> int:
    from sidebyside.lab.lockfiles import default_cache_root

    parser = argparse.ArgumentParser(prog="python -m sidebyside.deploy.lab_install")
    parser.add_argument("--service", required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--link-tools", action="store_true")
    parser.add_argument("--cache-root", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        report = install(args.service, args.release, args.root.resolve(),
                         link_tools=args.link_tools,
                         cache_root=args.cache_root or default_cache_root())
    except SbsError as exc:
        print(f"lab_install: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
