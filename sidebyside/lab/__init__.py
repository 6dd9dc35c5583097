"""The lab: real old and new OpenStack controllers on one machine.

    sbs lab up [--state-dir .lab] [--from-release 2024.1] [--to-release 2026.1]
               [--via 2025.1] [--services keystone,glance,nova]
    sbs lab status [--json]
    sbs lab down [--purge]       (saves HAProxy's server state first: a cutover survives)
    sbs lab reset                (new controller empty and stopped again, VIP on the old)
    eval "$(sbs lab env)"        (SBS_INVENTORY, OS_CLIENT_CONFIG_FILE, OS_CLOUD=lab-vip)
    sbs lab service start|stop|status --side old|new SERVICE   (the inventory calls these)

What `up` builds (idempotent; every process's PID is recorded under <state>/run/):
  - MariaDB of the old controller on 127.0.0.11:13306 and of the new one on
    127.0.0.12:13306 (`mariadb.MariaDBServer`, datadirs under each root's var/lib/mysql);
  - the old controller under <state>/old/: keystone (fernet and credential keys,
    bootstrapped, endpoints on the VIP, a non-default token expiration, a deprecated
    option name and a custom policy.yaml) and glance served on 127.0.0.11, nova
    database-only (api_db, cell0 and cell1 mappings, db sync), seeded through
    openstacksdk (`seed`), expectations in <state>/seed.json;
  - the new controller under <state>/new/: the target release installed (venvs linked
    as <root>/opt/openstack/<service>-<release> for every release of the path, tools in
    <root>/usr/bin, a plain deployed config), users granted on its MariaDB, no data;
  - HAProxy on the VIP 127.0.0.10 (admin socket <state>/haproxy.sock), old servers
    enabled, new ones disabled;
  - <state>/sbs.yaml (the inventory) and <state>/clouds.yaml (lab-vip, lab-old,
    lab-new; mode 0600).
Glance's image store (<state>/shared/glance/images) is shared by both controllers, as
production shares ceph or NFS: glance records image locations as literal file:// URLs.

Modules: `releases` and `lockfiles` (pure data and keys), `venvs` (uv), `render`
(templates, inventory, clouds), `layout` (paths and addresses), `state` (lab.json),
`processes` (PIDs), `services` (one service of one side), `seed` (openstacksdk),
`core` (up/down/status), `wsgi_server` (run with a service venv's python).
"""
