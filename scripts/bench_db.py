#!/usr/bin/env python3
"""Benchmark: copy an OpenStack-shaped data set between two MariaDB servers, four ways.

    (a) mariadb-dump --single-transaction --quick | mariadb
    (b) mydumper + myloader, 2 threads each
    (c) sbs db copy (2 workers; its own chunk verification included)
    (d) the floor: LOAD DATA INFILE of pre-made files already on the target, one loader

Each copy is verified afterwards with `sbs db verify` (timed separately). Writes
bench/results/db-copy.md and db-copy.json. Usage:

    python3 scripts/bench_db.py [--size GB] [--methods a,b,c,d] [--workdir DIR] [--keep]

Everything runs on this machine: both servers and all clients share its cores, which is
the point (the client's CPU competes with the servers').
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidebyside.db import DbEndpoint  # noqa: E402
from sidebyside.db.mariadb_server import MariaDBServer  # noqa: E402
from sidebyside.db.verify import verify_databases  # noqa: E402

DATABASES = ["keystone", "nova", "nova_api", "neutron", "glance", "cinder"]
SERVER_OPTIONS = {"innodb_buffer_pool_size": "2G", "innodb_log_file_size": "1G",
                  "secure_file_priv": "", "max_allowed_packet": "1G"}

# Rows at --size 1.5 (GB); scaled linearly for other sizes.
# (database, table, rows, DDL, SELECT producing the rows from seq_1_to_N as `seq`)
UUID = "LPAD(HEX(seq * 2654435761 % 4294967296), 8, '0')"
TABLES: list[tuple[str, str, int, str, str]] = [
    ("nova", "instance_system_metadata", 4_200_000, """(
        created_at DATETIME NULL, updated_at DATETIME NULL, deleted_at DATETIME NULL,
        id INT NOT NULL AUTO_INCREMENT, instance_uuid VARCHAR(36) NOT NULL,
        `key` VARCHAR(255) NOT NULL, value TEXT NULL, deleted INT NULL,
        PRIMARY KEY (id), KEY instance_uuid (instance_uuid),
        KEY ism_key_idx (`key`(64))) DEFAULT CHARSET=utf8mb4""",
     f"""SELECT NOW() - INTERVAL seq MINUTE, IF(seq % 3 = 0, NULL, NOW()), NULL, seq,
        CONCAT({UUID}, '-4a1b-9c2d-', LPAD(seq DIV 20, 12, '0')),
        ELT(1 + seq % 8, 'image_base_image_ref', 'image_disk_format', 'image_min_ram',
            'instance_type_name', 'image_container_format', 'owner_user_name',
            'image_os_distro', 'boot_roles'),
        IF(seq % 11 = 0, NULL, CONCAT('value-', seq, ' ', REPEAT('ü', seq % 7))), 0"""),
    ("nova", "instance_actions_events", 1_000_000, """(
        created_at DATETIME NULL, updated_at DATETIME NULL, id INT NOT NULL AUTO_INCREMENT,
        event VARCHAR(255) NULL, action_id INT NULL, start_time DATETIME NULL,
        finish_time DATETIME NULL, result VARCHAR(255) NULL, traceback TEXT NULL,
        host VARCHAR(255) NULL, details TEXT NULL, PRIMARY KEY (id),
        KEY action_id (action_id)) DEFAULT CHARSET=utf8mb4""",
     """SELECT NOW() - INTERVAL seq SECOND, NULL, seq, 'compute__do_build_and_run_instance',
        seq DIV 3, NOW() - INTERVAL seq SECOND, NOW(), IF(seq % 50 = 0, 'Error', 'Success'),
        IF(seq % 50 = 0, REPEAT('Traceback (most recent call last):\n  File x\n', 20), NULL),
        CONCAT('compute-', seq % 200), NULL"""),
    ("nova", "instances", 150_000, """(
        created_at DATETIME NULL, updated_at DATETIME NULL, deleted_at DATETIME NULL,
        id INT NOT NULL AUTO_INCREMENT, user_id VARCHAR(255) NULL, project_id VARCHAR(255) NULL,
        image_ref VARCHAR(255) NULL, hostname VARCHAR(255) NULL, host VARCHAR(255) NULL,
        memory_mb INT NULL, vcpus INT NULL, vm_state VARCHAR(255) NULL,
        display_name VARCHAR(255) NULL, display_description TEXT NULL,
        uuid VARCHAR(36) NOT NULL, user_data MEDIUMTEXT NULL, deleted INT NULL,
        PRIMARY KEY (id), UNIQUE KEY uniq_instances0uuid (uuid), KEY instances_host_idx (host),
        KEY instances_project_id_idx (project_id)) DEFAULT CHARSET=utf8mb4""",
     f"""SELECT NOW() - INTERVAL seq HOUR, NOW(), NULL, seq, MD5(seq % 900), MD5(seq % 300),
        MD5(seq % 40), CONCAT('vm-', seq), CONCAT('compute-', seq % 200), 2048, 2,
        'active', CONCAT('サーバー ', seq, ' 🚀'), IF(seq % 4 = 0, NULL, 'a test instance'),
        CONCAT({UUID}, '-4a1b-9c2d-', LPAD(seq, 12, '0')),
        IF(seq % 5 = 0, TO_BASE64(REPEAT(CHAR(65 + seq % 26), 1500)), NULL), 0"""),
    ("nova", "instance_extra", 150_000, """(
        created_at DATETIME NULL, id INT NOT NULL AUTO_INCREMENT,
        instance_uuid VARCHAR(36) NOT NULL, numa_topology TEXT NULL, pci_requests TEXT NULL,
        flavor TEXT NULL, vcpu_model TEXT NULL, PRIMARY KEY (id),
        KEY instance_extra_idx (instance_uuid)) DEFAULT CHARSET=utf8mb4""",
     f"""SELECT NOW(), seq, CONCAT({UUID}, '-4a1b-9c2d-', LPAD(seq, 12, '0')),
        IF(seq % 2 = 0, NULL, JSON_OBJECT('nova_object.name', 'InstanceNUMATopology',
           'cells', JSON_ARRAY(JSON_OBJECT('id', 0, 'cpuset', JSON_ARRAY(0, 1, 2, 3),
           'memory', 4096)))),
        '[]',
        JSON_OBJECT('cur', JSON_OBJECT('nova_object.name', 'Flavor', 'nova_object.data',
           JSON_OBJECT('name', CONCAT('m1.', seq % 5), 'memory_mb', 2048, 'vcpus', 2,
           'extra_specs', JSON_OBJECT('hw:cpu_policy', 'dedicated',
           'description', REPEAT('flavor text ', 40))))),
        JSON_OBJECT('model', 'Haswell', 'features', JSON_ARRAY('avx', 'sse4.2', 'aes'))"""),
    ("nova_api", "request_specs", 150_000, """(
        created_at DATETIME NULL, updated_at DATETIME NULL, id INT NOT NULL AUTO_INCREMENT,
        instance_uuid VARCHAR(36) NOT NULL, spec MEDIUMTEXT NOT NULL, PRIMARY KEY (id),
        UNIQUE KEY uniq_request_specs0instance_uuid (instance_uuid)) DEFAULT CHARSET=utf8""",
     f"""SELECT NOW(), NULL, seq, CONCAT({UUID}, '-4a1b-9c2d-', LPAD(seq, 12, '0')),
        JSON_OBJECT('nova_object.name', 'RequestSpec', 'num_instances', 1,
           'scheduler_hints', JSON_OBJECT(), 'image', REPEAT('{{"disk_format": "qcow2"}} ', 30),
           'flavor', REPEAT('m1.small ', 20))"""),
    ("keystone", "assignment", 300_000, """(
        type ENUM('UserProject','GroupProject','UserDomain','GroupDomain') NOT NULL,
        actor_id VARCHAR(64) NOT NULL, target_id VARCHAR(64) NOT NULL,
        role_id VARCHAR(64) NOT NULL, inherited TINYINT(1) NOT NULL,
        PRIMARY KEY (type, actor_id, target_id, role_id, inherited),
        KEY ix_actor_id (actor_id)) DEFAULT CHARSET=utf8""",
     """SELECT 'UserProject', MD5(seq), MD5(seq % 1000), MD5(seq % 7), 0"""),
    ("keystone", "project", 50_000, """(
        id VARCHAR(64) NOT NULL, name VARCHAR(64) NOT NULL, extra TEXT NULL,
        description TEXT NULL, enabled TINYINT(1) NULL, domain_id VARCHAR(64) NOT NULL,
        parent_id VARCHAR(64) NULL, is_domain TINYINT(1) NOT NULL DEFAULT 0,
        PRIMARY KEY (id), UNIQUE KEY ixu_project_name_domain_id (domain_id, name))
        DEFAULT CHARSET=utf8""",
     """SELECT MD5(seq), CONCAT('project-', seq), '{}', IF(seq % 3 = 0, NULL, 'desc'), 1,
        'default', NULL, 0"""),
    ("neutron", "standardattributes", 600_000, """(
        id BIGINT NOT NULL AUTO_INCREMENT, resource_type VARCHAR(255) NOT NULL,
        created_at DATETIME NULL, updated_at DATETIME NULL, description VARCHAR(255) NULL,
        revision_number BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4""",
     """SELECT seq, ELT(1 + seq % 3, 'ports', 'networks', 'subnets'), NOW(), NOW(),
        IF(seq % 2 = 0, NULL, ''), seq % 9"""),
    ("neutron", "ports", 300_000, """(
        project_id VARCHAR(255) NULL, id VARCHAR(36) NOT NULL, name VARCHAR(255) NULL,
        network_id VARCHAR(36) NOT NULL, mac_address VARCHAR(32) NOT NULL,
        admin_state_up TINYINT(1) NOT NULL, status VARCHAR(16) NOT NULL,
        device_id VARCHAR(255) NOT NULL, device_owner VARCHAR(255) NOT NULL,
        standard_attr_id BIGINT NOT NULL, ip_allocation VARCHAR(16) NULL,
        PRIMARY KEY (id), UNIQUE KEY uniq_ports0standard_attr_id (standard_attr_id),
        KEY ix_ports_network_id_device_owner (network_id, mac_address),
        KEY ix_ports_device_id (device_id)) DEFAULT CHARSET=utf8mb4""",
     """SELECT MD5(seq % 300), CONCAT(MD5(seq), ''), IF(seq % 4 = 0, NULL, CONCAT('port', seq)),
        MD5(seq % 50), CONCAT('fa:16:3e:', LPAD(HEX(seq), 6, '0')), 1, 'ACTIVE', MD5(seq DIV 2),
        'compute:nova', seq * 2, 'immediate'"""),
    ("neutron", "ipallocations", 300_000, """(
        port_id VARCHAR(36) NULL, ip_address VARCHAR(64) NOT NULL,
        subnet_id VARCHAR(36) NOT NULL, network_id VARCHAR(36) NOT NULL,
        PRIMARY KEY (ip_address, subnet_id, network_id), KEY port_id (port_id))
        DEFAULT CHARSET=utf8mb4""",
     """SELECT MD5(seq), CONCAT('10.', seq DIV 65536, '.', (seq DIV 256) % 256, '.', seq % 256),
        MD5(seq % 50 + 1000), MD5(seq % 50)"""),
    ("glance", "images", 40_000, """(
        id VARCHAR(36) NOT NULL, name VARCHAR(255) NULL, size BIGINT NULL,
        status VARCHAR(30) NOT NULL, created_at DATETIME NOT NULL, deleted_at DATETIME NULL,
        deleted TINYINT(1) NOT NULL, disk_format VARCHAR(20) NULL, checksum VARCHAR(32) NULL,
        owner VARCHAR(255) NULL, os_hash_value VARCHAR(128) NULL, PRIMARY KEY (id),
        KEY ix_images_deleted (deleted)) DEFAULT CHARSET=utf8mb4""",
     """SELECT MD5(seq), CONCAT('image-', seq), seq * 1048576, 'active', NOW(), NULL, 0,
        'qcow2', MD5(seq + 1), MD5(seq % 300), SHA2(seq, 512)"""),
    ("glance", "image_properties", 300_000, """(
        id INT NOT NULL AUTO_INCREMENT, image_id VARCHAR(36) NOT NULL,
        name VARCHAR(255) NOT NULL, value TEXT NOT NULL, created_at DATETIME NOT NULL,
        deleted TINYINT(1) NOT NULL, PRIMARY KEY (id),
        UNIQUE KEY ix_image_properties_image_id_name (image_id, name)) DEFAULT CHARSET=utf8mb4""",
     """SELECT seq, MD5(seq DIV 8), CONCAT('prop_', seq % 8), CONCAT('value ', seq), NOW(), 0"""),
    ("cinder", "volumes", 100_000, """(
        created_at DATETIME NULL, id VARCHAR(36) NOT NULL, size INT NULL,
        host VARCHAR(255) NULL, status VARCHAR(255) NULL, display_name VARCHAR(255) NULL,
        volume_type_id VARCHAR(36) NULL, provider_location VARCHAR(256) NULL,
        PRIMARY KEY (id), KEY volumes_service_uuid_idx (host)) DEFAULT CHARSET=utf8mb4""",
     """SELECT NOW(), MD5(seq), seq % 100, CONCAT('cinder@lvm#', seq % 3), 'available',
        IF(seq % 2 = 0, NULL, CONCAT('vol ', seq)), MD5(seq % 4), NULL"""),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def endpoint(server: MariaDBServer) -> DbEndpoint:
    return DbEndpoint(server.host, server.port, "root", server.root_password)


def generate(server: MariaDBServer, scale: float) -> dict[str, Any]:
    connection = server.connect(autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_log_bin = 0, unique_checks = 0")
        for database in DATABASES:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        for database, table, rows, ddl, select in TABLES:
            count = max(100, int(rows * scale))
            log(f"generating {database}.{table}: {count:,} rows")
            cursor.execute(f"CREATE TABLE `{database}`.`{table}` {ddl} ENGINE=InnoDB")
            step = 500_000
            for start in range(0, count, step):
                end = min(count, start + step)
                body = select.replace("seq", "(s.seq)")
                cursor.execute(f"INSERT INTO `{database}`.`{table}` {body} "
                               f"FROM (SELECT seq FROM `{database}`.seq_{start + 1}_to_{end}) s")
        for database, table, *_ in TABLES:
            cursor.execute(f"ANALYZE TABLE `{database}`.`{table}`")
            cursor.fetchall()
        cursor.execute("SELECT COALESCE(SUM(TABLE_ROWS), 0), SUM(DATA_LENGTH), "
                       "SUM(INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN "
                       f"({', '.join(repr(d) for d in DATABASES)})")
        estimated_rows, data_length, index_length = cursor.fetchone()
        exact = 0
        for database, table, *_ in TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM `{database}`.`{table}`")
            exact += cursor.fetchone()[0]
    connection.close()
    return {"rows": exact, "data_bytes": int(data_length), "index_bytes": int(index_length),
            "databases": len(DATABASES), "tables": len(TABLES)}


def reset_target(server: MariaDBServer) -> None:
    connection = server.connect(autocommit=True)
    with connection.cursor() as cursor:
        for database in DATABASES:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cursor.execute("RESET MASTER")
    connection.close()


def cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(*servers: MariaDBServer, timeout: float = 120.0) -> float:
    """Wait until the servers are idle: the previous run's background work (flushing,
    purge of dropped tables) would otherwise be counted against the next method."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = sum(cpu_seconds(server.pid) for server in servers)
        time.sleep(1.0)
        if sum(cpu_seconds(server.pid) for server in servers) - before < 0.03:
            break
    return round(time.monotonic() - started, 1)


def run_measured(argv: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run argv; wall time, peak RSS and CPU of it and its children (wait4 rusage)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = b"", b""
    # communicate() would reap the child; read its pipes, then wait4 for its rusage
    assert process.stdout is not None and process.stderr is not None
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({process.returncode}): "
                         f"{stderr.decode(errors='replace')[-2000:]}")
    return {"seconds": seconds, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "client_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "stdout": stdout.decode(errors="replace")}


def option_file(workdir: Path, name: str, server: MariaDBServer) -> Path:
    path = workdir / f"{name}.cnf"
    path.write_text(f"[client]\nuser=root\npassword={server.root_password}\n"
                    f"host={server.host}\nport={server.port}\nprotocol=TCP\n")
    path.chmod(0o600)
    return path


def method_dump(workdir: Path, source: MariaDBServer, target: MariaDBServer) -> dict[str, Any]:
    src, dst = option_file(workdir, "src", source), option_file(workdir, "dst", target)
    script = (f"set -o pipefail; mariadb-dump --defaults-extra-file={src} --single-transaction "
              f"--quick --routines --triggers --events --databases {' '.join(DATABASES)} | "
              f"mariadb --defaults-extra-file={dst}")
    return run_measured(["bash", "-c", script])


def method_mydumper(workdir: Path, source: MariaDBServer,
                    target: MariaDBServer) -> dict[str, Any]:
    out = workdir / "mydumper"
    shutil.rmtree(out, ignore_errors=True)
    regex = "^(" + "|".join(DATABASES) + r")\."
    dump = run_measured(["mydumper", "--host", source.host, "--port", str(source.port),
                         "--user", "root", "--password", source.root_password, "--threads", "2",
                         "--outputdir", str(out), "--regex", regex, "--trx-consistency-only",
                         "--rows", "500000", "--triggers", "--events", "--routines"])
    load = run_measured(["myloader", "--host", target.host, "--port", str(target.port),
                         "--user", "root", "--password", target.root_password, "--threads", "2",
                         "--directory", str(out), "--overwrite-tables"])
    size = sum(p.stat().st_size for p in out.iterdir())
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": dump["seconds"] + load["seconds"], "dump_seconds": dump["seconds"],
            "load_seconds": load["seconds"], "dump_bytes": size,
            "peak_rss_mb": max(dump["peak_rss_mb"], load["peak_rss_mb"]),
            "client_cpu_seconds": round(dump["client_cpu_seconds"]
                                        + load["client_cpu_seconds"], 1)}


SBS_WORKERS = 2


def method_sbs(workdir: Path, source: MariaDBServer, target: MariaDBServer,
               workers: int = SBS_WORKERS) -> dict[str, Any]:
    state = workdir / "sbs-state"
    shutil.rmtree(state, ignore_errors=True)
    src_pw, dst_pw = workdir / "src.pw", workdir / "dst.pw"
    src_pw.write_text(source.root_password)
    dst_pw.write_text(target.root_password)
    result = run_measured([
        sys.executable, "-c", "from sidebyside.cli.db import app; app()", "copy",
        "--from", source.url(), "--to", target.url(), "--databases", ",".join(DATABASES),
        "--from-password-file", str(src_pw), "--to-password-file", str(dst_pw),
        "--state-dir", str(state), "--workers", str(workers), "--skip-users", "--json"])
    stdout = result.pop("stdout")
    (workdir / "sbs-report.json").write_text(stdout)  # per table: rows, seconds, indexes
    report = json.loads(stdout)
    result["phases"] = report["phases"]
    result["status"] = report["status"]
    return result


def method_raw_load(workdir: Path, source: MariaDBServer,
                    target: MariaDBServer) -> dict[str, Any]:
    """Pre-made tab-separated files on the target's machine, loaded by one connection."""
    files = workdir / "outfiles"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    src = source.connect(autocommit=True)
    dst = target.connect(autocommit=True, local_infile=True)
    with src.cursor() as scur, dst.cursor() as dcur:
        for database in DATABASES:
            dcur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
        for database, table, *_ in TABLES:
            path = files / f"{database}.{table}.txt"
            scur.execute(f"SELECT * INTO OUTFILE '{path}' FROM `{database}`.`{table}`")
            scur.execute(f"SHOW CREATE TABLE `{database}`.`{table}`")
            dcur.execute(f"USE `{database}`")
            dcur.execute(scur.fetchone()[1])
        started = time.monotonic()
        cpu_before = cpu_seconds(target.pid)
        dcur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0, sql_log_bin = 0")
        for database, table, *_ in TABLES:
            path = files / f"{database}.{table}.txt"
            dcur.execute(f"LOAD DATA INFILE '{path}' INTO TABLE `{database}`.`{table}` "
                         f"CHARACTER SET binary")
        seconds = time.monotonic() - started
        server_cpu = cpu_seconds(target.pid) - cpu_before
    src.close()
    dst.close()
    shutil.rmtree(files, ignore_errors=True)
    return {"seconds": seconds, "peak_rss_mb": 0.0, "client_cpu_seconds": 0.0,
            "target_cpu_seconds": round(server_cpu, 1)}


def limit_of(outcome: dict[str, Any]) -> str:
    """What bounded a run, read from where its CPU went (2 cores = 2 CPU-seconds/second)."""
    seconds = max(outcome["seconds"], 1e-9)
    shares = {"target server": outcome.get("target_cpu_seconds", 0.0),
              "source server": outcome.get("source_cpu_seconds", 0.0),
              "client": outcome.get("client_cpu_seconds", 0.0)}
    busiest = max(shares, key=lambda k: shares[k])
    cores = sum(shares.values()) / seconds
    return (f"{busiest} CPU ({shares[busiest] / seconds:.2f} cores busy of "
            f"{cores:.2f} used by the copy)")


NOTES = """
## How sbs gets there, and what limits each method

- (a) and (d) load with one connection: the target server's single loader thread is the
  limit (its CPU-seconds are close to the wall time). (b) loads with 2 threads but issues
  multi-row INSERTs into tables that already carry every secondary index; it spends the
  most target CPU of all.
- (c) copies with 2 workers. Each holds a PyMySQL connection to the source inside the
  shared consistent snapshot. The source server formats every row as LOAD DATA text
  (QUOTE() for strings, bare numbers and dates) and joins the rows of a key range of
  about 2 MiB into one value (GROUP_CONCAT). So the client receives a few large values
  per chunk and does no per-row work. The worker asks for the next piece while it feeds
  this one to `LOAD DATA LOCAL INFILE` on the target: one transaction per 100k-row
  primary-key range. A piece that GROUP_CONCAT had to cut (a warning, never silent) is
  read again row by row. So is a table with no integer key that is too big for one value.
  The statement that builds a piece's value also returns the piece's checksum (row count,
  BIT_XOR of the row CRCs), so the source reads each row once for both. A chunk's source
  checksum is its pieces' checksums combined, and it is compared with the target's.
  Secondary indexes and foreign keys are added after the data, in one ALTER per table.
- The reader table above: on the dominant table, the grouped pieces cost the client
  about a sixth of the CPU of the `mariadb` command-line client, which sbs used
  before. That client writes its output byte by byte. The sbs row's source CPU includes
  the chunks' checksums; the other readers leave those for a second scan. Without the
  checksums (same data, earlier run), the source paid 5-25% more to build the values
  than to send the rows.
  - Same session, same servers, `sbs db copy` of the six databases, old reader against
    new: 66.8 and 68.8 s against 64.6 and 63.4 s. Client CPU went from 15.3-16.0 to
    8.9-9.2 s.
  - Nova alone: 56.0 s against 51.5-52.3 s; client CPU 11.7 against 3.6-4.2 s.
  - Piece sizes of 256 KiB, 512 KiB, 1 MiB and 2 MiB: the same source CPU within noise.
    256 KiB costs more client CPU (more statements).
  - The checksum from the same statement, against a separate checksum query per chunk
    (the six databases, taking turns, same session): 78.1 and 72.3 s against 80.6 and
    76.8 s; source CPU 26.1 and 24.6 s against 31.1 and 29.9 s. It replaced a third
    reader that computed source checksums ahead of the workers.
- What bounds (c): the target server's CPU, as for every method. The dominant table
  (4.2 M rows) has an AUTO_INCREMENT key. With the default `innodb_autoinc_lock_mode = 1`,
  a LOAD DATA holds the table's AUTO-INC lock until it ends, so two workers on that table
  load one after the other. Sampled every second, the machine ran at 1.6 of 2 cores while
  both workers were on it (the target at exactly 1.0), and at 1.95 afterwards.
- Measured and rejected, on 2026-11-29 (a host about twice as fast as the one of the
  table above; the ratios are what carry over):
  - one worker per table (no lock wait): the dominant table's load and its index build
    (7.9 s CPU, one thread) then end last, alone: 40 s against 35 s;
  - 3 workers (2 on the dominant table, 1 from the small end): 1.97 cores busy, but the
    target spent ~2 CPU-s more in contention: no gain;
  - multi-row INSERTs, which take no table AUTO-INC lock: 60% more target CPU than
    LOAD DATA for the same 800k rows (3.65 s vs 2.25 s);
  - one LOAD DATA per table into the empty table (MariaDB's bulk-insert path with
    unique_checks = 0): 25 CPU-s on 2 threads for the dominant table, against 12.4 s;
  - `innodb_autoinc_lock_mode = 2` on the target (the loads then run side by side):
    1.95 cores busy, but 53-54 target CPU-s instead of 42 (two loads in one B-tree):
    40-41 s. The lock wait is the cheaper of the two;
  - spooling other tables' streams into memory (256 MiB) during that phase: the kernel
    gives it its CPU by slowing the one load thread, and the idle comes later: no gain.
- Per-unit costs on the dominant table (target server CPU, same 2026-11-29 host):
  - LOAD DATA: 12.4-13.3 s;
  - both secondary indexes: 7.9 s (7.7 s as two ALTERs); inline indexes instead: 32.8 s
    in all;
  - the checksum query: 2.6 s, or 2.2 s without the CASTs to binary (used when a table's
    text columns share one collation). The NULL flags cost 0.45 s of it in every form
    tried.
- Measured while building it (small data set, target CPU-seconds): deferring indexes
  5.5 s vs 6.9 s inline; 100k-row chunks 4.9 s vs 7.7 s for one 420k-row transaction;
  verification adds about a quarter of the servers' CPU, which (a), (b), (d) pay
  afterwards in the `verify s` column.
- Drivers: the C extension of the installed mysql-connector-python does not load on
  Debian 12 (it needs OPENSSL_3.2.0), so that driver silently falls back to pure
  Python: the slowest reader above, and no use for the copy. PyMySQL reading rows one by
  one costs about 2 µs of Python per row, so sbs asks the server for few, large
  values instead.
- Timing on a shared VM: a CPU-bound Python loop ran 1.05 s at the start of this
  session and 1.57 s an hour later, with the machine idle. That is why every method
  runs in turn, round after round, and waits for both servers to be idle first, and
  why only ratios from one run are compared.
"""


def write_markdown(results: dict[str, Any], path: Path) -> None:
    dataset = results.get("dataset", {})
    methods = results["methods"]
    lines = [
        "# Database copy benchmark", "",
        f"Generated by `scripts/bench_db.py --size {results['size_option_gb']}` "
        f"(`make bench-db`) on {results['machine']['cpus']} CPUs, {results.get('server', '')}; "
        "source and target servers, dump/load tools and sbs all share those CPUs. "
        f"Every method ran {results.get('rounds', 1)} times, in turn (a, b, c, d, then "
        "again); each row is the run with the median wall time, the `rounds` column lists "
        "them all. Load average before the first run: "
        f"{results['machine'].get('loadavg_before', '?')}. The CPU-seconds columns (per "
        "process, from /proc and wait4) are the steadier figures.",
        "",
        f"Data set: {dataset.get('rows', 0):,} rows in {dataset.get('tables', 0)} tables of "
        f"{dataset.get('databases', 0)} databases; InnoDB data "
        f"{dataset.get('data_bytes', 0) / 1e9:.2f} GB + indexes "
        f"{dataset.get('index_bytes', 0) / 1e9:.2f} GB (MB/s below = data bytes / wall time).",
        "",
        "| method | wall s (median) | rounds s | MB/s | rows/s | peak RSS MB | client CPU s | "
        "source CPU s | target CPU s | verify s | verified | limited by |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, outcome in methods.items():
        name = outcome["name"].replace("|", "\\|")  # a pipe would split the table cell
        lines.append(
            f"| ({key}) {name} | {outcome['seconds']} | "
            f"{', '.join(str(x) for x in outcome.get('rounds_seconds', [outcome['seconds']]))} | "
            f"{outcome['mb_per_second']} | "
            f"{outcome['rows_per_second']:,} | {outcome['peak_rss_mb']} | "
            f"{outcome.get('client_cpu_seconds', '')} | {outcome.get('source_cpu_seconds', '')} | "
            f"{outcome.get('target_cpu_seconds', '')} | {outcome['verify_seconds']} | "
            f"{'yes' if outcome['verified_equal'] else 'NO'} | {limit_of(outcome)} |")
    if "c" in methods:
        sbs = methods["c"]["seconds"]
        lines += ["", "sbs (c) includes its own chunk-by-chunk verification; for (a), (b) and (d) "
                  "the `verify s` column is extra time on top of the copy.", ""]
        sbs_rounds = methods["c"].get("rounds_seconds", [sbs])
        for key, label, goal in (("a", "faster than (a)", 2.0), ("b", "faster than (b)", 1.3)):
            if key in methods:
                ratio = methods[key]["seconds"] / sbs
                per_round = [other / mine for other, mine in
                             zip(methods[key].get("rounds_seconds", []), sbs_rounds,
                                 strict=False)]
                lines.append(f"- {label}: {ratio:.2f}x by the medians (goal {goal}x); "
                             f"round by round: {', '.join(f'{r:.2f}x' for r in per_round)}")
        if "d" in methods:
            per_round = [mine / other for other, mine in
                         zip(methods["d"].get("rounds_seconds", []), sbs_rounds, strict=False)]
            lines.append(f"- against the floor (d): {sbs / methods['d']['seconds']:.2f}x its time "
                         f"by the medians (goal within 1.3x); round by round: "
                         f"{', '.join(f'{r:.2f}x' for r in per_round)}")
        if "phases" in methods["c"]:
            lines.append(f"- sbs phases (s): {methods['c']['phases']}")
    if results.get("readers"):
        lines += ["", "## Reading the dominant table client-side (the per-row work)", "",
                  "| reader | wall s | client CPU s | source CPU s | MB |", "|---|---|---|---|---|"]
        for row in results["readers"]:
            lines.append(f"| {row['reader']} | {row['seconds']} | {row['client_cpu_seconds']} | "
                         f"{row['source_cpu_seconds']} | {row['bytes'] / 1e6:.0f} |")
    path.write_text("\n".join(lines) + "\n" + NOTES)


def reader_comparison(source: MariaDBServer, workdir: Path) -> list[dict[str, Any]]:
    """Client-side cost of reading the dominant table as LOAD DATA text, four ways."""
    from dataclasses import replace

    from sidebyside.db.client import Session, SnapshotReader
    from sidebyside.db.schema import read_tables
    from sidebyside.db.sql import line_expression, plan_chunks, select_expression

    src = endpoint(source)
    with Session(src) as session:
        table = next(t for t in read_tables(session, "nova")
                     if t.name == "instance_system_metadata")
        low, high = session.query_one("SELECT MIN(id), MAX(id) FROM "
                                      "`nova`.`instance_system_metadata`") or (None, None)
    table = replace(table, chunks=plan_chunks(low, high, table.estimated_rows, 100_000))
    # one server-formatted column per row, for drivers that would build a Python object
    # per value otherwise
    line_sql = f"SELECT {line_expression(table)} FROM `nova`.`instance_system_metadata`"
    columns_sql = (f"SELECT {', '.join(select_expression(c) for c in table.columns)} "
                   "FROM `nova`.`instance_system_metadata` ORDER BY id")

    def grouped_pieces() -> int:
        reader = SnapshotReader(src)
        total = 0
        try:
            for chunk in table.chunks:
                total += reader.stream_chunk(table, chunk, lambda piece: None).size
        finally:
            reader.close()
        return total

    def mariadb_client() -> int:
        options = option_file(workdir, "reader", source)
        process = subprocess.Popen(
            ["mariadb", f"--defaults-extra-file={options}", "--batch", "--raw",
             "--skip-column-names", "--quick", "--default-character-set=utf8mb4",
             "--init-command=SET character_set_results = binary, time_zone = '+00:00'",
             "-e", columns_sql], stdout=subprocess.PIPE)
        assert process.stdout is not None
        total = 0
        while block := process.stdout.read(1 << 20):
            total += len(block)
        process.wait()
        return total

    def pymysql_rows() -> int:
        import pymysql.cursors

        connection = pymysql.connect(host=src.host, port=src.port, user=src.user,
                                     password=src.password,
                                     cursorclass=pymysql.cursors.SSCursor)
        cursor = connection.cursor()
        cursor.execute(line_sql)
        total = 0
        while rows := cursor.fetchmany(10_000):
            total += len(b"\n".join(r[0] if isinstance(r[0], bytes) else r[0].encode()
                                    for r in rows))
        connection.close()
        return total

    def connector_rows() -> int:
        import mysql.connector

        connection = mysql.connector.connect(host=src.host, port=src.port, user=src.user,
                                             password=src.password)
        cursor = connection.cursor(raw=True)
        cursor.execute(line_sql)
        total = 0
        while rows := cursor.fetchmany(10_000):
            total += len(b"\n".join(bytes(r[0]) for r in rows))
        connection.close()
        return total

    try:
        import mysql.connector

        cext = bool(getattr(mysql.connector, "HAVE_CEXT", False))
    except ImportError:
        cext = False
    results = []
    for name, read in (("sbs: PyMySQL, pieces of ~2 MiB joined by the source (GROUP_CONCAT), "
                        "with their checksums", grouped_pieces),
                       ("mariadb client --batch --raw pipe, a row per line (sbs before)",
                        mariadb_client),
                       ("PyMySQL, one server-formatted column per row", pymysql_rows),
                       ("mysql-connector-python "
                        + ("C extension" if cext else "pure Python (C extension not loadable)")
                        + ", one server-formatted column per row", connector_rows)):
        before_self = resource.getrusage(resource.RUSAGE_SELF)
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = cpu_seconds(source.pid)
        started = time.monotonic()
        size = read()
        seconds = time.monotonic() - started
        after_self = resource.getrusage(resource.RUSAGE_SELF)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = (after_self.ru_utime + after_self.ru_stime - before_self.ru_utime
                  - before_self.ru_stime + after_children.ru_utime + after_children.ru_stime
                  - before_children.ru_utime - before_children.ru_stime)
        results.append({"reader": name, "seconds": round(seconds, 1), "bytes": size,
                        "client_cpu_seconds": round(client, 2),
                        "source_cpu_seconds": round(cpu_seconds(source.pid) - server_before, 2)})
        log(f"reader: {results[-1]}")
    return results


METHODS = {
    "a": ("mariadb-dump | mariadb", method_dump),
    "b": ("mydumper + myloader (2 threads)", method_mydumper),
    "c": ("sbs db copy (2 workers, verified)", method_sbs),
    "d": ("floor: LOAD DATA INFILE of pre-made files (1 loader)", method_raw_load),
}


def run_method(key: str, workdir: Path, source: MariaDBServer, target: MariaDBServer,
               dataset: dict[str, Any], sbs_workers: int) -> dict[str, Any]:
    """One copy by method `key` into an emptied target, then verified. Its figures."""
    name, run = METHODS[key]
    reset_target(target)
    waited = settle(source, target)
    log(f"({key}) {name} (servers idle after {waited} s)")
    source_cpu, target_cpu = cpu_seconds(source.pid), cpu_seconds(target.pid)
    outcome = (method_sbs(workdir, source, target, sbs_workers) if key == "c"
               else run(workdir, source, target))
    outcome.pop("stdout", None)
    outcome.setdefault("target_cpu_seconds", round(cpu_seconds(target.pid) - target_cpu, 1))
    outcome["source_cpu_seconds"] = round(cpu_seconds(source.pid) - source_cpu, 1)
    verify_started = time.monotonic()
    report = verify_databases(endpoint(source), endpoint(target), DATABASES,
                              raise_on_mismatch=False)
    outcome["verify_seconds"] = round(time.monotonic() - verify_started, 1)
    outcome["verified_equal"] = report.equal
    outcome["problems"] = report.problems[:5]
    outcome["seconds"] = round(outcome["seconds"], 1)
    outcome["mb_per_second"] = round(dataset["data_bytes"] / 1e6 / outcome["seconds"], 1)
    outcome["rows_per_second"] = round(dataset["rows"] / outcome["seconds"])
    outcome["name"] = name.replace(f"{SBS_WORKERS} workers", f"{sbs_workers} workers")
    return outcome


def median_run(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the lower middle of an even count), carrying
    every round's wall time in `rounds_seconds`; verified only if every round was."""
    ordered = sorted(outcomes, key=lambda o: o["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds_seconds"] = [o["seconds"] for o in outcomes]
    chosen["verified_equal"] = all(o["verified_equal"] for o in outcomes)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=1.5, help="data set size in GB")
    parser.add_argument("--methods", default="a,b,c,d")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep servers and data")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--sbs-workers", type=int, default=SBS_WORKERS,
                        help="workers of (c), sbs db copy")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every method this many times, in turn; report medians")
    parser.add_argument("--no-readers", action="store_true",
                        help="skip the client-side reader comparison")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sbs-bench-db-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = MariaDBServer(workdir / "source", host="127.0.0.91", name="bench-source",
                           options=SERVER_OPTIONS)
    target = MariaDBServer(workdir / "target", host="127.0.0.92", name="bench-target",
                           options=SERVER_OPTIONS)
    results: dict[str, Any] = {"size_option_gb": args.size, "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_before": ", ".join(f"{x:.2f}" for x in os.getloadavg())}, "methods": {}}
    try:
        source.start()
        target.start()
        results["server"] = source.connect().get_server_info()
        marker = workdir / "source" / "generated.json"
        if marker.exists() and json.loads(marker.read_text()).get("size") == args.size:
            dataset = json.loads(marker.read_text())["dataset"]
            log("reusing the generated data set")
        else:
            started = time.monotonic()
            dataset = generate(source, args.size / 1.5)
            dataset["generate_seconds"] = round(time.monotonic() - started, 1)
            marker.write_text(json.dumps({"size": args.size, "dataset": dataset}))
        results["dataset"] = dataset
        log(f"data set: {dataset}")
        if not args.no_readers:
            results["readers"] = reader_comparison(source, workdir)
        runs: dict[str, list[dict[str, Any]]] = {}
        for round_ in range(1, args.rounds + 1):
            for key in args.methods.split(","):
                outcome = run_method(key, workdir, source, target, dataset, args.sbs_workers)
                outcome["round"] = round_
                runs.setdefault(key, []).append(outcome)
                log(f"({key}) round {round_}: {json.dumps(outcome)}")
        for key, outcomes in runs.items():
            results["methods"][key] = median_run(outcomes)
        results["rounds"] = args.rounds
    finally:
        if not args.keep:
            source.stop()
            target.stop()
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "db-copy.json").write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, args.results / "db-copy.md")
    log(f"wrote {args.results / 'db-copy.json'} and db-copy.md")
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"harness peak RSS {self_rss:.0f} MB")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
