#!/usr/bin/env python3
"""Bounded load during a cutover: GETs (and optionally Keystone token issues) at a
fixed rate to a loopback URL, or to several services' URLs in turn, each request's
time, status, failure and service into JSON.

    python3 scripts/bench_cutover_load.py --url http://127.0.0.10:5000/v3 \\
        --rate 50 --max-requests 20000 --max-seconds 900 \\
        --token-url http://127.0.0.10:5000/v3/auth/tokens --token-every 5 \\
        --token-user admin --token-password-file PATH --token-project admin \\
        --out bench/results/cutover-load.json
    python3 scripts/bench_cutover_load.py --read keystone=http://127.0.0.10:5000/v3 \\
        --read glance=http://127.0.0.10:9292/versions --out load.json

It stops at the first of: --max-requests, --max-seconds, SIGTERM/SIGINT, or the
--stop-file appearing; then writes the JSON (summary + records) and prints the
summary. Exit status 0 whatever the failures: judging them is the caller's job.
The password is read from a file and never written anywhere.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from sidebyside.errors import SbsError
from sidebyside.redact import redact, register_secret
from sidebyside.traffic.loadgen import ReadTarget, run_load


def token_body(user: str, password: str, project: str, domain: str) -> bytes:
    return json.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": domain}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": domain}}}}}).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="GET target (loopback only)")
    parser.add_argument("--read", action="append", default=[], metavar="SERVICE=URL",
                        help="a GET target labelled by its service, read in turn with "
                             "the others (repeatable; instead of --url)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--max-requests", type=int, default=10000)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=5.0, help="per request")
    parser.add_argument("--workers", type=int, default=16, help="requests in flight at most")
    parser.add_argument("--token-url", help="Keystone /v3/auth/tokens (loopback only)")
    parser.add_argument("--token-every", type=int, default=0,
                        help="every Nth request is a token issue (0: none)")
    parser.add_argument("--token-user", default="admin")
    parser.add_argument("--token-password-file", type=Path)
    parser.add_argument("--token-project", default="admin")
    parser.add_argument("--token-domain", default="Default")
    parser.add_argument("--stop-file", type=Path, help="stop once this file exists")
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    args = parser.parse_args(argv)
    if bool(args.url) == bool(args.read):
        parser.error("give either --url or one or more --read SERVICE=URL")
    reads = []
    for item in args.read:
        service, _, url = item.partition("=")
        if not service or not url:
            parser.error(f"--read {item!r}: expected SERVICE=URL")
        reads.append(ReadTarget(service=service, url=url))

    body = None
    if args.token_url and args.token_every:
        if not args.token_password_file:
            parser.error("--token-url needs --token-password-file")
        password = args.token_password_file.read_text().strip()
        register_secret(password)
        body = token_body(args.token_user, password, args.token_project, args.token_domain)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher = None
    if args.stop_file:
        def watch() -> None:
            while not stop.wait(0.2):
                if args.stop_file.exists():
                    stop.set()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

    try:
        result = run_load(args.url, reads=reads, rate=args.rate,
                          max_requests=args.max_requests, max_seconds=args.max_seconds,
                          token_url=args.token_url, token_body=body,
                          token_every=args.token_every,
                          timeout=args.timeout, stop=stop, workers=args.workers)
    except SbsError as exc:
        print(f"bench_cutover_load: {redact(exc.message)}", file=sys.stderr)
        return 2
    stop.set()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(redact(result.to_json()))
    print(json.dumps(result.summary(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
