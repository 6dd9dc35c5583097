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

Modules, one job each:
  `up` (bring the lab up, step by step), `status` (what runs), `down` (stop it all),
  `reset` (put the new side back after a run);
  `service_setup` (keystone bootstrap, glance and nova schemas, seed: once, on the old
  side), `configs` (each controller's config tree), `databases` (the MariaDBs and the
  catalog's databases on them), `balancers` (the HAProxy nodes, through the production
  runtime client), `services` (one service of one side), `processes` (PIDs and tools);
  `install` (a release's venv onto a controller: `lab up` and the lab playbook) and
  `deploy_adapter` (the playbook and its ansible inventory);
  `state` (lab.json and the lab's lock), `layout` (paths and addresses), `render`
  (templates, inventory, clouds), `releases` and `lockfiles` (the lab's own release
  data and lock keys; service majors are the catalog's), `venvs` (uv), `passwords`,
  `files`, `seed` (openstacksdk), `mariadb` (one MariaDB server), `netns`,
  `wsgi_server` (run with a service venv's python).
"""
