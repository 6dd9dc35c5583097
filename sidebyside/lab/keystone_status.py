"""`keystone-status` for the lab's controllers, which live under a root prefix.

Run with a keystone venv's python, like wsgi_server.py (it imports keystone, never
sidebyside):

    <venv>/bin/python3 keystone_status.py --config-file <root>/etc/keystone/keystone.conf \
        upgrade check --json

keystone-status builds its backends *before* it reads its configuration, so the fernet
token and receipt providers check the packaged default key repository,
/etc/keystone/fernet-keys/, and exit ("... does not exist") on any host that keeps its
keys elsewhere: a lab controller keeps them under its root. This runs the very same
checks (keystone's `Checks`, oslo.upgradecheck's options and output), with the one
difference that the configuration is read first.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import keystone.conf
    from keystone.cmd import status
    from keystone.server import backends
    from oslo_upgradecheck import upgradecheck

    conf = keystone.conf.CONF
    keystone.conf.configure()
    checks = status.Checks()
    upgradecheck.register_cli_options(conf, checks)
    conf(args=argv, project="keystone")
    backends.load_backends()
    return int(upgradecheck.run(conf))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
