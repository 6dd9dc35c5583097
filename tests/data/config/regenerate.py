"""Regenerate the committed option metadata and sample configs (test data).

    python3 tests/data/config/regenerate.py [service-release ...]

Runs each release's own `oslo-config-generator` (from the lab's venv of that release,
built from the committed lock when missing) over the namespaces of
sidebyside/config/services.yaml and writes, per service and release:
    metadata/<service>-<release>.yaml   --format yaml (the translation's input)
    samples/<service>-<release>.conf    --format ini  (the round-trip tests' input)
"""

from __future__ import annotations

import sys
from pathlib import Path

from sidebyside.config.metadata import generate_metadata_text, service_spec
from sidebyside.lab.lockfiles import default_cache_root
from sidebyside.lab.venvs import ensure_venv
from sidebyside.remote.local import LocalHost

HERE = Path(__file__).parent
DEFAULT = [f"{s}-{r}" for s in ("keystone", "glance", "nova")
           for r in ("2024.1", "2025.1", "2026.1")]


def main(targets: list[str]) -> None:
    host = LocalHost()
    for target in targets or DEFAULT:
        service, release = target.split("-", 1)
        venv = ensure_venv(service, release, default_cache_root())
        namespaces = service_spec(service).main_file.namespaces
        for fmt, folder, suffix in (("yaml", "metadata", "yaml"), ("ini", "samples", "conf")):
            text = generate_metadata_text(host, str(venv.bin), namespaces, output_format=fmt)
            out = HERE / folder / f"{service}-{release}.{suffix}"
            out.parent.mkdir(exist_ok=True)
            out.write_text(text)
            print(f"{out.relative_to(HERE)}: {len(text)} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
