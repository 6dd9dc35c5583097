"""`make demo`: the main job on the local lab of real services.

Brings the whole-cloud lab up (`sbs lab up --topology cloud`): the eight services on
both sides (keystone, glance, placement, nova with its conductor and scheduler,
neutron-server with ML2, cinder with its scheduler and volume service on cinder's fake
driver, horizon, heat with its engine), each side on its own RabbitMQ vhost, a
fake-driver compute nodes of the old release, one holding an ACTIVE server with a volume
attached, a heat stack;
an empty new controller of the new release, two MariaDB servers, HAProxy on the VIP.
Then it runs exactly what an operator would: plan, prepare, cutover under a light load
through the VIP (the compute nodes follow the new bus), verify, a user's server, volume
and stack made through the VIP on the new control plane, rollback (refused, then
accepted with the export); then the cutover again, the compute nodes' rolling upgrade
(`sbs computes upgrade`) and `sbs finalize`; and prints what happened and the downtime
measured.

One SLURP hop by default (2025.1 -> 2026.1): nova 2026.1 refuses computes older
than 2025.1, so the compute nodes could not stay on 2024.1 through the cutover.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from sidebyside.traffic.loadgen import LoadResult, WriteLoad, run_load

ROOT = Path(__file__).resolve().parents[1]


def banner(text: str) -> None:
    print(f"\n\033[1m=== {text} ===\033[0m", flush=True)


def sbs(*args: str, check: bool = True, env: dict[str, str] | None = None) -> int:
    argv = [sys.executable, "-m", "sidebyside", *args]
    print("$ sbs " + " ".join(args), flush=True)
    proc = subprocess.run(argv, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise SystemExit(f"demo: `sbs {' '.join(args)}` exited {proc.returncode}")
    return proc.returncode


def vip_auth(clouds_file: Path) -> dict[str, Any]:
    return yaml.safe_load(clouds_file.read_text())["clouds"]["lab-vip"]["auth"]


def token_body(clouds_file: Path) -> bytes:
    auth = vip_auth(clouds_file)
    return json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": auth["user_domain_name"]},
        "password": auth["password"]}}}, "scope": {"project": {
            "name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}}
    ).encode()


def issue_token(clouds_file: Path) -> str:
    """A token from the VIP before the load starts: the reads carry it (fernet keys are
    carried to the new side, so it stays valid across the cutover)."""
    url = vip_auth(clouds_file)["auth_url"].rstrip("/")
    request = urllib.request.Request(f"{url}/auth/tokens", data=token_body(clouds_file),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.headers["X-Subject-Token"])


class Load:
    """Through the VIP while the cutover runs (bounded), at 10 requests/s: project
    listings with a token (database reads), every 20th a token issue (a login: bcrypt
    makes each cost the lab's keystone ~0.3 s of CPU), every 10th a project
    create (a database write). A request counts as failed on an error answer or after
    30 s without one (openstacksdk and the CLIs wait that long and longer)."""

    def __init__(self, clouds_file: Path, *, writes: bool = True) -> None:
        self.stop = threading.Event()
        self.result: LoadResult | None = None
        self.clouds_file = clouds_file
        self.writes = writes
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url = vip_auth(self.clouds_file)["auth_url"].rstrip("/")  # http://<vip>:5000/v3
        token = issue_token(self.clouds_file)
        stamp = time.strftime("%H%M%S")
        writes = WriteLoad(
            url=f"{url}/projects", every=10, headers={"X-Auth-Token": token},
            body=lambda i: json.dumps({"project": {
                "name": f"load-{stamp}-{i}", "domain_id": "default"}}).encode())
        self.result = run_load(f"{url}/projects", rate=10, max_requests=20000,
                               max_seconds=900, token_url=f"{url}/auth/tokens",
                               token_body=token_body(self.clouds_file), token_every=20,
                               get_headers={"X-Auth-Token": token}, timeout=30.0,
                               writes=writes if self.writes else None, stop=self.stop)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(60)


def user_workload(clouds_file: Path, seed_file: Path) -> dict[str, Any]:
    """A server booted through the VIP on the seeded network (it lands on the
    old-release compute node, which follows the new control plane's bus), a volume
    attached to it, a stack; and the compute services the new control plane sees."""
    from sidebyside.cloud.compute_services import compute_services
    from sidebyside.lab import seed

    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_file)
    conn = seed.connect(clouds_file, "lab-vip")
    network = json.loads(seed_file.read_text())["networks"][seed.NETWORK]["id"]
    made = seed.user_workload(conn, network_id=network, prefix="after-cutover")
    server = made["servers"]["after-cutover-server"]
    volume = made["volumes"]["after-cutover-volume"]
    return {"compute services": {host: svc.state for host, svc in
                                 compute_services(conn).items()},
            "server": {"status": server["status"], "compute host": server["host"],
                       "addresses": [a["addr"] for nets in server["addresses"].values()
                                     for a in nets]},
            "volume": {"status": volume["status"], "attached to": volume["server"]},
            "stack": next(iter(made["stacks"].values()))["status"]}


def compute_services_now(clouds_file: Path, lab_file: Path) -> dict[str, Any]:
    """The compute services through the VIP, and the release each node runs."""
    from sidebyside.cloud.compute_services import compute_services
    from sidebyside.lab import seed

    conn = seed.connect(clouds_file, "lab-vip")
    releases = json.loads(lab_file.read_text()).get("compute_releases", {})
    return {"compute services": {host: f"{svc.state}, {svc.status}" for host, svc in
                                 compute_services(conn).items()},
            "node releases": releases}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab-dir", default=str(ROOT / ".lab"))
    parser.add_argument("--from-release", default="2025.1")
    parser.add_argument("--to-release", default="2026.1")
    parser.add_argument("--via", default="")
    parser.add_argument("--topology", default="cloud")
    parser.add_argument("--services", default="keystone,glance,placement,nova,neutron,"
                                                "cinder,horizon,heat")
    parser.add_argument("--address-base", default="",
                        help="the topology's first three octets instead (beside another lab)")
    parser.add_argument("--keep", action="store_true", help="leave the lab running")
    args = parser.parse_args()
    lab = Path(args.lab_dir)
    state = lab / "sbs-state"
    inventory = lab / "sbs.yaml"
    started = time.monotonic()

    try:
        return run_demo(args, lab, state, inventory, started)
    finally:
        if not args.keep:
            sbs("lab", "down", "--state-dir", str(lab), check=False)


def run_demo(args: argparse.Namespace, lab: Path, state: Path, inventory: Path,
             started: float) -> int:
    banner("1. the lab: real old and new controllers on this machine")
    lab_args = ["lab", "up", "--state-dir", str(lab), "--from-release", args.from_release,
                "--to-release", args.to_release, "--topology", args.topology,
                "--services", args.services]
    if args.via:
        lab_args += ["--via", args.via]
    if args.address_base:
        lab_args += ["--address-base", args.address_base]
    sbs(*lab_args)
    common = ["-i", str(inventory), "--state-dir", str(state)]
    if state.exists():  # a previous demo ran here: empty new side, fresh journal
        import shutil
        sbs("lab", "reset", "--state-dir", str(lab))
        shutil.rmtree(state)

    banner("2. the runbook")
    sbs("plan", "cutover", *common)

    banner("3. prepare: backup, copy, translate, db_sync, verify the new controller")
    sbs("prepare", *common, "--yes")
    sbs("plan", "cutover", *common)  # now with the timings prepare recorded

    banner("4. cutover under load through the VIP")
    with Load(lab / "clouds.yaml") as load:
        time.sleep(2)
        sbs("cutover", *common, "--yes")
        time.sleep(2)
    sbs("verify", *common, "--side", "vip")

    banner("5. a user's server, volume and stack on the new control plane; rollback "
           "refuses to drop them silently")
    workload = user_workload(lab / "clouds.yaml", lab / "seed.json")
    print(json.dumps(workload, indent=2))
    code = sbs("rollback", *common, "--yes", check=False)
    print(f"(rollback without --accept-data-loss exited {code}: refused, as it must)")
    sbs("rollback", *common, "--yes", "--accept-data-loss")
    sbs("verify", *common, "--side", "vip")
    sbs("status", *common)
    main_job = round(time.monotonic() - started, 1)
    print(f"(lab up, prepare, cutover and rollback: {main_job} s)")

    banner("6. cutover again, then the compute nodes upgraded one at a time, and finalize")
    sbs("cutover", *common, "--yes")
    sbs("plan", "computes", *common)
    sbs("computes", "upgrade", *common, "--yes")
    print(json.dumps(compute_services_now(lab / "clouds.yaml", lab / "lab.json"), indent=2))
    sbs("finalize", *common, "--yes")
    sbs("status", *common)

    banner("summary")
    summary: dict[str, Any] = {"seconds": round(time.monotonic() - started, 1),
                               "main_job_seconds": main_job}
    if load.result:
        result = load.result
        summary.update(result.summary())
        windows = {kind: result.unavailability_windows(kind)
                   for kind in ("get", "token", "write")}
        summary["unavailable_seconds"] = {
            kind: round(sum(end - begin for begin, end in spans), 2)
            for kind, spans in windows.items()}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
