"""A small threaded WSGI server for the lab's OpenStack APIs (standard library only).

Run with a service venv's python, not sbs's: it imports the service from that venv.

    <venv>/bin/python wsgi_server.py --host 127.0.0.11 --port 5000 \
        --app keystone.wsgi.api:application \
        --app 'keystone.server.wsgi:initialize_public_application()'

Each `--app` is tried in order and the first importable one is served: keystone
>= 2026.1 only has `keystone.wsgi.api:application`, older releases only the factory
behind their `keystone-wsgi-public` script. A trailing `()` calls the attribute.
`sys.argv` is replaced before the import because the applications parse it as their
own command line: by the `--app-arg`s (heat's `--config-file`), else empty.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
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
    """Load keystone's policy rules before the first request.

    oslo.policy loads them on the first enforced request and not thread-safely (this
    server runs a thread per request): concurrent first requests were seen, one of
    them answered 403 while the rules of the lab's custom policy file were in and the
    defaults not yet. A production server has the same race; the lab's warms up, so
    that measurements under load count the cutover's failures, not this one."""
    try:
        from keystone.common.rbac_enforcer.enforcer import RBACEnforcer
    except ImportError:
        return
    RBACEnforcer()._enforcer.load_rules()


def eventlet_patched() -> bool:
    """Whether importing the application monkey-patched the process with eventlet
    (nova's API and neutron's before 2026.1 do). Then a thread per request would be a
    green thread blocked by socketserver's unpatched poll: only an eventlet server
    serves such an application."""
    patcher = sys.modules.get("eventlet.patcher")
    return bool(patcher and patcher.is_monkey_patched("socket"))


def serve_green(application: Callable[..., Any], host: str, port: int,
                pid_file: str | None, name: str) -> None:
    """Serve with eventlet's WSGI server, as the service's own eventlet server does."""
    import eventlet  # type: ignore[import-not-found]
    import eventlet.wsgi  # type: ignore[import-not-found]

    try:
        sock = eventlet.listen((host, port))
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    write_pid_file(pid_file)
    print(f"serving {name} on http://{host}:{port} (eventlet)", file=sys.stderr, flush=True)
    eventlet.wsgi.server(sock, application, log=sys.stderr, max_size=64)


def with_static(application: Callable[..., Any], prefix: str, root: str
                ) -> Callable[..., Any]:
    """Files under `root` answered for paths under `prefix` (horizon's collected
    STATIC_ROOT, as a web server's alias serves it), everything else by the
    application. Nothing outside `root` is served."""
    import mimetypes

    base = os.path.realpath(root)

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(prefix):
            return application(environ, start_response)
        target = os.path.realpath(os.path.join(base, path[len(prefix):]))
        if not target.startswith(base + os.sep) or not os.path.isfile(target):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        kind = mimetypes.guess_type(target)[0] or "application/octet-stream"
        with open(target, "rb") as handle:
            body = handle.read()
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "public, max-age=3600")])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return serve


def write_pid_file(pid_file: str | None) -> None:
    if pid_file:
        with open(pid_file + ".tmp", "w") as handle:
            handle.write(f"{os.getpid()}\n")
        os.replace(pid_file + ".tmp", pid_file)


def main() -> None:
    parser = argparse.ArgumentParser(description="serve one WSGI application, threaded")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", action="append", required=True)
    parser.add_argument("--pid-file")
    parser.add_argument("--app-arg", action="append", default=[],
                        help="the application's own command line (repeatable)")
    parser.add_argument("--static", action="append", default=[],
                        help="PREFIX=DIR: files of DIR served under the URL PREFIX")
    args = parser.parse_args()
    sys.argv = [sys.argv[0], *args.app_arg]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        application = load_application(args.app)
        for static in args.static:
            prefix, _, root = static.partition("=")
            application = with_static(application, prefix, root)
        warm_policy()
    except Exception:
        traceback.print_exc()
        raise SystemExit(1) from None
    if eventlet_patched():
        serve_green(application, args.host, args.port, args.pid_file, args.app[0])
        return
    try:
        server = make_server(args.host, args.port, application,
                             server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    except OSError as exc:
        # Said here: keystone's logging sends an uncaught exception to its own log file.
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr,
              flush=True)
        raise SystemExit(1) from None
    write_pid_file(args.pid_file)
    print(f"serving {args.app[0]} on http://{args.host}:{args.port}", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
