"""A small threaded WSGI server for the lab's OpenStack APIs (standard library only).

Run with a service venv's python, not sbs's: it imports the service from that venv.

    <venv>/bin/python wsgi_server.py --host 127.0.0.11 --port 5000 \
        --app keystone.wsgi.api:application \
        --app 'keystone.server.wsgi:initialize_public_application()'

Each `--app` is tried in order and the first importable one is served: keystone
>= 2026.1 only has `keystone.wsgi.api:application`, older releases only the factory
behind their `keystone-wsgi-public` script. A trailing `()` calls the attribute.
`sys.argv` is cleared before the import because the applications parse it as their
own command line.

`--workers N` serves from N processes, each loading the application itself after the
fork (no database connection is shared across processes) and listening on the same
address with SO_REUSEPORT, so the kernel spreads the connections, as a production
uwsgi with several processes would. The first process writes the pid file and ends the
others when it is stopped; a worker whose first process is gone exits.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    reuse_port = False  # set when several worker processes listen on one address
    leader_pid: int | None = None  # in a forked worker: the process that forked it

    def server_bind(self) -> None:
        if self.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def service_actions(self) -> None:
        # A worker whose first process is gone (killed by its PID alone) stops too.
        if self.leader_pid is not None and os.getppid() != self.leader_pid:
            raise SystemExit(0)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        sys.stderr.write(f"{self.address_string()} {format % args}\n")
        sys.stderr.flush()


def load_application(specs: list[str]) -> Callable[..., Any]:
    """The first application of `specs` (`module:attr` or `module:factory()`) that imports."""
    failures = []
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        call = attribute.endswith("()")
        attribute = attribute.removesuffix("()")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            failures.append(f"{spec}: {exc}")
            continue
        target = getattr(module, attribute)
        return target() if call else target  # type: ignore[no-any-return]
    raise SystemExit("no application could be imported:\n  " + "\n  ".join(failures))


def warm_policy() -> None:
    """Load keystone's policy rules before the first request, in every process.

    oslo.policy loads them on the first enforced request and not thread-safely: two
    concurrent first requests were seen, one of them answered 403 while the rules of
    the lab's custom policy file were in and the defaults not yet. A production server
    has the same race; the lab server warms up so that measurements under load count
    the cutover's failures, not this one."""
    try:
        from keystone.common.rbac_enforcer.enforcer import RBACEnforcer
    except ImportError:
        return
    RBACEnforcer()._enforcer.load_rules()


def fork_workers(count: int) -> list[int]:
    """Fork `count` worker processes; returns their PIDs (in the first process) or []
    (in a worker)."""
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            return []
        pids.append(pid)
    return pids


def stop_workers(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description="serve one WSGI application, threaded")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", action="append", required=True)
    parser.add_argument("--pid-file")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]
    leader = os.getpid()
    workers = [] if args.workers <= 1 else fork_workers(args.workers - 1)
    ThreadingWSGIServer.reuse_port = args.workers > 1
    if os.getpid() == leader:
        signal.signal(signal.SIGTERM, lambda *_: stop_workers(workers))
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        application = load_application(args.app)
        warm_policy()
    except Exception:
        traceback.print_exc()
        raise SystemExit(1) from None
    try:
        server = make_server(args.host, args.port, application,
                             server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    except OSError as exc:
        # Said here: keystone's logging sends an uncaught exception to its own log file.
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr,
              flush=True)
        raise SystemExit(1) from None
    if os.getpid() != leader:
        server.leader_pid = leader
    elif args.pid_file:
        with open(args.pid_file + ".tmp", "w") as handle:
            handle.write(f"{os.getpid()}\n")
        os.replace(args.pid_file + ".tmp", args.pid_file)
    print(f"serving {args.app[0]} on http://{args.host}:{args.port}", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
