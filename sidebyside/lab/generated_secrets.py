"""The lab's generated passwords: one file each under `<state>/secrets/`."""

from __future__ import annotations

import os
import secrets

from sidebyside.lab.layout import LabLayout
from sidebyside.redact import register_secret

SECRET_NAMES = ("admin", "keystone-db", "glance-db", "nova-db", "placement-db",
                "neutron-db", "glance-service", "placement-service", "nova-service",
                "neutron-service", "heat-db", "heat-service", "cinder-db", "cinder-service",
                "horizon-secret-key", "rabbit", "alice", "bob")


def ensure_secrets(layout: LabLayout) -> dict[str, str]:
    """Generated passwords, one file each (0600 in a 0700 dir), registered for redaction.

    Existing files are kept: a second `lab up` reads the same passwords back.
    """
    layout.secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.secrets_dir, 0o700)
    values = {}
    for name in SECRET_NAMES:
        path = layout.secret_file(name)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(18) + "\n")
        values[name] = path.read_text().strip()
        register_secret(values[name])
    return values
