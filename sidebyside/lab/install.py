"""Install service releases on a lab controller: the lab playbook's one custom step,
and how `lab up` installs every controller.

    python -m sidebyside.lab.install --services keystone,glance \\
        --releases 2025.1,2026.1 --tools-release 2026.1 --root /path/to/new \\
        [--cache-root DIR]

For every service and release: builds (or reuses) the venv with the lab's own builder
(`sidebyside.lab.venvs.ensure_venv`, from the committed locks) and links it as
`<root>/opt/openstack/<service>-<release>` (that release's bin directory, e.g. for an
intermediate release's db_sync); the `<service>-*` tools of --tools-release are linked
into `<root>/usr/bin` as a package would. One process for all of them: ansible pays
its per-task cost once. Prints one JSON line: `{"changed": bool, "installed": [...]}`
(what ansible reports as changed). Exit status 2 for bad input (no lock for that
release), 4 when a build fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sidebyside.errors import SbsError
from sidebyside.lab.files import link, write_file
from sidebyside.lab.lockfiles import default_cache_root
from sidebyside.lab.venvs import ensure_venv


def link_release(venv: Path, service: str, release: str, root: Path, *,
                 link_tools: bool) -> tuple[bool, list[Path]]:
    """Link the venv of one release as `<root>/opt/openstack/<service>-<release>` and,
    with link_tools, its `<service>-*` tools into `<root>/usr/bin` (horizon: its share
    directory, `dashboard_share`). Returns whether anything changed and the links."""
    links = [root / "opt" / "openstack" / f"{service}-{release}"]
    changed = link(links[0], venv)
    if link_tools:
        for tool in sorted((venv / "bin").glob(f"{service}-*")):
            links.append(root / "usr" / "bin" / tool.name)
            changed |= link(links[-1], tool)
        if service == "horizon":
            changed |= dashboard_share(root)
    return changed, links


# horizon's manage.py (its repository's, which the distributions install as
# /usr/share/openstack-dashboard/manage.py): run with a release's python, it manages
# that release's dashboard.
MANAGE_PY = """#!/usr/bin/env python3
import os
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openstack_dashboard.settings")
    execute_from_command_line(sys.argv)
"""


def dashboard_share(root: Path) -> bool:
    """`<root>/usr/share/openstack-dashboard/`: manage.py, and a `local` package whose
    local_settings.py links to /etc/openstack-dashboard/local_settings.py, so that
    horizon's `from local.local_settings import *` reads this controller's file (the
    venv is shared by every lab: nothing is written into it). Release-independent:
    whose python runs it decides the release. True when anything changed."""
    share = root / "usr" / "share" / "openstack-dashboard"
    changed = False
    for path, text in ((share / "manage.py", MANAGE_PY), (share / "local" / "__init__.py", "")):
        if not path.is_file() or path.read_text() != text:
            write_file(path, text, mode=0o755 if path.name == "manage.py" else 0o644)
            changed = True
    changed |= link(share / "local" / "local_settings.py",
                    root / "etc" / "openstack-dashboard" / "local_settings.py")
    return changed


def install(service: str, release: str, root: Path, *, link_tools: bool,
            cache_root: Path) -> dict[str, object]:
    """Raises InputError (no lock) or StepFailed (the venv build failed)."""
    venv = ensure_venv(service, release, cache_root)
    linked, links = link_release(venv.path, service, release, root, link_tools=link_tools)
    return {"changed": venv.built or linked, "venv": str(venv.path), "built": venv.built,
            "seconds": round(venv.seconds, 1), "links": [str(p) for p in links]}


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sidebyside.lab.install")
    parser.add_argument("--services", required=True, type=_names)
    parser.add_argument("--releases", required=True, type=_names)
    parser.add_argument("--tools-release", default=None,
                        help="whose tools go to <root>/usr/bin (default: the last release)")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--cache-root", type=Path, default=None)
    args = parser.parse_args(argv)
    tools_release = args.tools_release or args.releases[-1]
    installed = []
    try:
        for service in args.services:
            for release in args.releases:
                installed.append(install(service, release, args.root.resolve(),
                                         link_tools=release == tools_release,
                                         cache_root=args.cache_root or default_cache_root()))
    except SbsError as exc:
        print(f"lab_install: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps({"changed": any(item["changed"] for item in installed),
                      "installed": installed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
