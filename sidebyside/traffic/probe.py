"""Check a server directly (not through HAProxy) before it takes traffic.

HAProxy puts a server leaving `maint` UP at once, before its first health check, so
a broken new server would get requests for a few seconds. The probe asks the server
itself: an HTTP GET on its address and port, from the HAProxy node (that is the
network path HAProxy will use), answered with any status below 500.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping

from sidebyside.remote.base import Host, RemoteError
from sidebyside.remote.local import LocalHost
from sidebyside.traffic.errors import ServerCheckFailed
from sidebyside.traffic.haproxy import ServerState
from sidebyside.traffic.switch import ServiceRoute

# GET argv[3] on argv[1]:argv[2]; print the status. Exit 3 with the reason on stderr.
PROBE_SCRIPT = (
    "import http.client,sys\n"
    "c=http.client.HTTPConnection(sys.argv[1],int(sys.argv[2]),timeout=float(sys.argv[4]))\n"
    "try:\n"
    " c.request('GET',sys.argv[3]);print(c.getresponse().status)\n"
    "except OSError as e:\n"
    " sys.stderr.write(str(e));sys.exit(3)\n"
)


def http_status(address: str, port: int, path: str, *, timeout: float,
                via: Host | None = None) -> int:
    """Status of GET path on address:port, from `via` (None: this process). Raises
    OSError or RemoteError when nothing answers."""
    if via is None or (isinstance(via, LocalHost) and not via.sudo):
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()
    result = via.run(["python3", "-c", PROBE_SCRIPT, address, str(port), path, str(timeout)],
                     timeout=timeout + 30)
    return int(result.stdout.strip())


class DirectHttpCheck:
    """The default `ServerCheck`: GET `paths[service]` (default /) on each server.

    Servers HAProxy does not health-check (`check` absent) are sent traffic whatever
    their health, before and after the switch; they are skipped unless
    `check_unchecked`, since the operator chose not to check them.
    """

    def __init__(self, *, via: Host | None = None, paths: Mapping[str, str] | None = None,
                 timeout: float = 5.0, check_unchecked: bool = False) -> None:
        self.via = via
        self.paths = dict(paths or {})
        self.timeout = timeout
        self.check_unchecked = check_unchecked

    def __call__(self, route: ServiceRoute, state: ServerState) -> str:
        """Raises ServerCheckFailed naming service, backend, server and address."""
        if not state.health_checked and not self.check_unchecked:
            return "skipped (HAProxy does not health-check it)"
        where = f"{state.address}:{state.port}"
        if state.port is None:
            raise ServerCheckFailed(f"{route.service}: server {state.server} of backend "
                                    f"{route.backend} has no port to check")
        path = self.paths.get(route.service, "/")
        try:
            status = http_status(state.address, state.port, path, timeout=self.timeout,
                                 via=self.via)
        except (OSError, RemoteError, ValueError) as exc:
            raise ServerCheckFailed(
                f"{route.service}: server {state.server} of backend {route.backend} "
                f"({where}) does not answer GET {path}: {exc}; traffic not switched") from exc
        if status >= 500:
            raise ServerCheckFailed(
                f"{route.service}: server {state.server} of backend {route.backend} "
                f"({where}) answers GET {path} with {status}; traffic not switched")
        return f"GET http://{where}{path} -> {status}"
