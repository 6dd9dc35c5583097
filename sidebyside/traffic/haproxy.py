"""HAProxy runtime API over the admin socket, on this machine or on a remote host.

One `HaproxyNode` talks to one HAProxy process. Every command opens a connection,
sends one line and reads the answer until HAProxy closes it (the socket's
non-interactive mode), so there is no session state to lose between steps.

Locally the socket is opened from Python. On any other host the command goes
through the Host interface to a tiny `python3 -c` relay that connects to the socket
and copies stdin to it and the answer back. python3 rather than `socat`: socat is an
extra package many load balancers do not carry, python3 is on every host that
ansible (and so every OpenStack deployment tool) manages, and the relay reads until
HAProxy closes, where socat's default 0.5 s half-close timeout can cut a long
`show stat` answer on a slow node.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from sidebyside.remote.base import Host, RemoteError
from sidebyside.remote.local import LocalHost
from sidebyside.traffic.errors import HaproxyCommandRejected, HaproxyUnreachable

AdminState = Literal["ready", "drain", "maint"]
ADMIN_STATES: tuple[AdminState, ...] = ("ready", "drain", "maint")

# srv_admin_state bits (HAProxy include/haproxy/server-t.h)
ADMF_FMAINT = 0x01   # forced maintenance (`set server ... state maint`)
ADMF_IMAINT = 0x02   # inherited from a tracked server
ADMF_CMAINT = 0x04   # declared `disabled` in the config; stays set after `ready`
ADMF_FDRAIN = 0x08   # forced drain
ADMF_IDRAIN = 0x10   # inherited drain
ADMF_RMAINT = 0x20   # DNS resolution failed
ADMF_HMAINT = 0x40   # hostname changed at runtime
# CMAINT alone does not keep a server out: once `ready` clears FMAINT it takes traffic.
_MAINT_BITS = ADMF_FMAINT | ADMF_IMAINT | ADMF_RMAINT | ADMF_HMAINT
_DRAIN_BITS = ADMF_FDRAIN | ADMF_IDRAIN

OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
CHK_ST_CONFIGURED = 0x02  # srv_check_state: the server has `check`

_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")

# Copies stdin to the unix socket argv[1] and the answer to stdout until HAProxy
# closes the connection; argv[2] is the timeout. Exit 3 with a reason on stderr.
RELAY_SCRIPT = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n"
    "s.settimeout(float(sys.argv[2]))\n"
    "try:\n"
    " s.connect(sys.argv[1]);s.sendall(sys.stdin.buffer.read())\n"
    " while True:\n"
    "  d=s.recv(65536)\n"
    "  if not d:break\n"
    "  sys.stdout.buffer.write(d)\n"
    "except OSError as e:\n"
    " sys.stderr.write('%s: %s\\n'%(sys.argv[1],e));sys.exit(3)\n"
)


@dataclass(frozen=True)
class ServerState:
    """One line of `show servers state` (format version 1)."""

    backend_id: int
    backend: str
    server_id: int
    server: str
    address: str
    op_state: int
    admin_state: int
    user_weight: int
    initial_weight: int
    check_state: int
    port: int | None

    @property
    def admin(self) -> AdminState:
        """ready, drain or maint as `set server ... state` would name it."""
        if self.admin_state & _MAINT_BITS:
            return "maint"
        if self.admin_state & _DRAIN_BITS:
            return "drain"
        return "ready"

    @property
    def operational(self) -> str:
        return OP_STATES.get(self.op_state, str(self.op_state))

    @property
    def health_checked(self) -> bool:
        return bool(self.check_state & CHK_ST_CONFIGURED)


@dataclass(frozen=True)
class StatRow:
    """One row of `show stat`: a frontend, backend or server of a proxy."""

    proxy: str
    name: str           # FRONTEND, BACKEND or the server name
    scur: int           # current sessions
    qcur: int           # queued requests
    status: str         # UP, DOWN, MAINT, DRAIN, no check, OPEN, ...
    weight: int | None
    fields: dict[str, str]


def parse_servers_state(text: str) -> list[ServerState]:
    """Parse `show servers state` output. Raises ValueError on an unknown format."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty answer to `show servers state`")
    if lines[0].strip() != "1":
        raise ValueError(f"unknown server state format {lines[0].strip()!r} (expected 1)")
    header: list[str] | None = None
    states = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line[1:].split()
            continue
        if header is None:
            raise ValueError("`show servers state` answer has no header line")
        row = dict(zip(header, line.split(), strict=False))
        try:
            port = row.get("srv_port", "0")
            states.append(ServerState(
                backend_id=int(row["be_id"]), backend=row["be_name"],
                server_id=int(row["srv_id"]), server=row["srv_name"],
                address=row["srv_addr"], op_state=int(row["srv_op_state"]),
                admin_state=int(row["srv_admin_state"]),
                user_weight=int(row["srv_uweight"]), initial_weight=int(row["srv_iweight"]),
                check_state=int(row.get("srv_check_state", "0")),
                port=int(port) if port.isdigit() and int(port) else None))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unparseable server state line {line!r}: {exc}") from exc
    return states


def parse_stat_csv(text: str) -> list[StatRow]:
    """Parse `show stat` CSV. Raises ValueError when the header is missing."""
    if not text.startswith("# "):
        raise ValueError("`show stat` answer does not start with its CSV header")
    reader = csv.DictReader(io.StringIO(text[2:]))
    rows = []
    for raw in reader:
        if not raw.get("pxname"):
            continue
        fields = {k: (v or "") for k, v in raw.items() if k and k != "-"}

        def number(key: str, fields: dict[str, str] = fields) -> int:
            value = fields.get(key, "")
            return int(value) if value.isdigit() else 0

        weight = fields.get("weight", "")
        rows.append(StatRow(proxy=fields["pxname"], name=fields["svname"],
                            scur=number("scur"), qcur=number("qcur"),
                            status=fields.get("status", ""),
                            weight=int(weight) if weight.isdigit() else None,
                            fields=fields))
    return rows


@dataclass(frozen=True)
class Stream:
    """One line of `show sess`: a request being handled (HTTP streams live one request;
    an idle keep-alive connection has none). `epoch` is the value of the node's `show
    sess` counter when the stream was created: streams created after a `show sess` call
    have a higher one, which tells in-flight requests from later ones exactly."""

    id: str
    frontend: str
    backend: str | None
    server: str | None
    source: str
    epoch: int
    age: str


_STREAM_FIELD = re.compile(r"(\w+)=(\S*)")


def parse_sessions(text: str) -> list[Stream]:
    """Parse `show sess`. Lines that are not streams are skipped; raises ValueError when
    a stream line lacks its epoch (an HAProxy too old to tell streams apart)."""
    streams = []
    for line in text.splitlines():
        head, _, rest = line.partition(": ")
        if not head.startswith("0x") or not rest:
            continue
        fields = dict(_STREAM_FIELD.findall(rest))
        if "epoch" not in fields:
            raise ValueError(f"`show sess` line without epoch: {line[:120]!r}")
        backend = fields.get("be")
        server = fields.get("srv")
        streams.append(Stream(
            id=head, frontend=fields.get("fe", ""),
            backend=None if backend in (None, "<NONE>") else backend,
            server=None if server in (None, "<none>") else server,
            source=fields.get("src", ""), epoch=int(fields["epoch"], 0),
            age=fields.get("age", "")))
    return streams


def parse_map(text: str) -> dict[str, str]:
    """Parse `show map <file>`: `0x<ref> <key> <value>` lines. Raises ValueError on an
    error answer (unknown map)."""
    entries = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("0x"):
            raise ValueError(line.strip())
        entries[parts[1]] = parts[2].strip() if len(parts) == 3 else ""
    return entries


_MAP_PATH = re.compile(r"^/[^\s;#]+$")


def check_map_path(value: str) -> str:
    """A map file goes into a command line: an absolute path without blanks. Raises
    ValueError."""
    if not _MAP_PATH.match(value):
        raise ValueError(f"invalid HAProxy map file path {value!r}")
    return value


def check_name(kind: str, value: str) -> str:
    """Backend and server names go into a command line: refuse separators. Raises
    ValueError."""
    if not _NAME.match(value):
        raise ValueError(f"invalid HAProxy {kind} name {value!r}")
    return value


class AdminChannel(Protocol):
    """Sends one runtime API command line, returns HAProxy's whole answer."""

    description: str

    def send(self, command: str, *, timeout: float) -> str: ...


class UnixSocketChannel:
    """The admin socket opened from this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.description = f"socket {path}"

    def send(self, command: str, *, timeout: float) -> str:
        """Raises OSError when the socket cannot be reached or times out."""
        chunks = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.path)
            sock.sendall(command.encode() + b"\n")
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")


class HostRelayChannel:
    """The admin socket of a remote host, through `python3 -c RELAY_SCRIPT` there."""

    def __init__(self, host: Host, path: str) -> None:
        self.host = host
        self.path = path
        self.description = f"socket {path} on {host.name} (python3 relay)"

    def send(self, command: str, *, timeout: float) -> str:
        """Raises RemoteError when the host or the socket cannot be reached."""
        result = self.host.run(["python3", "-c", RELAY_SCRIPT, self.path, str(timeout)],
                               input=command.encode() + b"\n", timeout=timeout + 30)
        return result.stdout


def channel_for(host: Host, socket_path: str) -> AdminChannel:
    """A direct socket for this machine (network namespaces share its filesystem, so
    a unix socket path reaches across them), the relay for any other host or when
    the socket needs sudo."""
    if isinstance(host, LocalHost) and not host.sudo:
        return UnixSocketChannel(socket_path)
    return HostRelayChannel(host, socket_path)


class HaproxyNode:
    """The runtime API of one HAProxy process (one node of the fleet)."""

    def __init__(self, name: str, channel: AdminChannel, *, host: Host | None = None,
                 timeout: float = 10.0) -> None:
        self.name = name
        self.channel = channel
        self.host = host
        self.timeout = timeout

    @classmethod
    def on_host(cls, host: Host, socket_path: str, *, timeout: float = 10.0) -> HaproxyNode:
        return cls(host.name, channel_for(host, socket_path), host=host, timeout=timeout)

    def command(self, command: str) -> str:
        """Send one command line; return the answer. Raises HaproxyUnreachable."""
        if "\n" in command or ";" in command:
            raise ValueError(f"one command at a time: {command!r}")
        try:
            return self.channel.send(command, timeout=self.timeout)
        except (OSError, RemoteError) as exc:
            reason = (exc.stderr_tail or exc.message) if isinstance(exc, RemoteError) \
                else str(exc)
            raise HaproxyUnreachable(
                f"HAProxy node {self.name}: {self.channel.description} did not answer "
                f"`{command}`: {reason}",
                hint="is haproxy running there, with `stats socket ... level admin`?") from exc

    def _expect_silence(self, command: str, backend: str, server: str) -> None:
        answer = self.command(command)
        if answer.strip():  # every `set`/`enable`/`disable` answers nothing on success
            raise HaproxyCommandRejected(self.name, command, answer,
                                         backend=backend, server=server)

    def servers_state(self, backend: str | None = None) -> list[ServerState]:
        """`show servers state [backend]`. Raises HaproxyCommandRejected (unknown backend),
        HaproxyUnreachable."""
        command = "show servers state" + (f" {check_name('backend', backend)}" if backend
                                          else "")
        answer = self.command(command)
        try:
            return parse_servers_state(answer)
        except ValueError as exc:
            raise HaproxyCommandRejected(self.name, command, answer or str(exc),
                                         backend=backend) from exc

    def servers(self, backend: str, names: Iterable[str]) -> dict[str, ServerState]:
        """The state of the named servers of a backend. Raises HaproxyCommandRejected
        naming node, backend and server when one is not declared there."""
        states = {s.server: s for s in self.servers_state(backend)}
        wanted = list(names)
        missing = [name for name in wanted if name not in states]
        if missing:
            raise HaproxyCommandRejected(
                self.name, f"show servers state {backend}",
                f"No such server: {', '.join(missing)} (declared: {', '.join(states)})",
                backend=backend, server=missing[0])
        return {name: states[name] for name in wanted}

    def stat(self) -> list[StatRow]:
        """`show stat` parsed. Raises HaproxyCommandRejected, HaproxyUnreachable."""
        answer = self.command("show stat")
        try:
            return parse_stat_csv(answer)
        except ValueError as exc:
            raise HaproxyCommandRejected(self.name, "show stat", answer or str(exc)) from exc

    def current_sessions(self, backend: str, servers: Iterable[str]) -> dict[str, int]:
        """scur per named server of a backend (`show stat`). Raises
        HaproxyCommandRejected when the backend or a server is missing."""
        rows = {row.name: row for row in self.stat() if row.proxy == backend}
        if not rows:
            raise HaproxyCommandRejected(self.name, "show stat", "No such backend.",
                                         backend=backend)
        sessions = {}
        for server in servers:
            if server not in rows:
                raise HaproxyCommandRejected(self.name, "show stat", "No such server.",
                                             backend=backend, server=server)
            sessions[server] = rows[server].scur
        return sessions

    def set_state(self, backend: str, server: str, state: AdminState) -> None:
        """`set server <backend>/<server> state ready|drain|maint`. Raises
        HaproxyCommandRejected (e.g. "No such server."), HaproxyUnreachable."""
        if state not in ADMIN_STATES:
            raise ValueError(f"unknown server state {state!r}")
        self._expect_silence(f"set server {check_name('backend', backend)}/"
                             f"{check_name('server', server)} state {state}", backend, server)

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """`set server <backend>/<server> weight N` (0..256). Raises
        HaproxyCommandRejected, HaproxyUnreachable."""
        if not 0 <= weight <= 256:
            raise ValueError(f"weight {weight} outside 0..256")
        self._expect_silence(f"set server {check_name('backend', backend)}/"
                             f"{check_name('server', server)} weight {weight}",
                             backend, server)

    def set_health_checks(self, backend: str, server: str, enabled: bool) -> None:
        """`enable health` / `disable health` for one server. Raises
        HaproxyCommandRejected, HaproxyUnreachable."""
        verb = "enable" if enabled else "disable"
        self._expect_silence(f"{verb} health {check_name('backend', backend)}/"
                             f"{check_name('server', server)}", backend, server)

    def streams(self) -> list[Stream]:
        """`show sess`: every stream (request in flight) of the node. Raises
        HaproxyCommandRejected (an answer without epochs), HaproxyUnreachable."""
        answer = self.command("show sess")
        try:
            return parse_sessions(answer)
        except ValueError as exc:
            raise HaproxyCommandRejected(self.name, "show sess", str(exc)) from exc

    def map_entries(self, map_file: str) -> dict[str, str]:
        """`show map <file>`: key -> value. Raises HaproxyCommandRejected (the config
        does not use that map file), HaproxyUnreachable."""
        command = f"show map {check_map_path(map_file)}"
        answer = self.command(command)
        try:
            return parse_map(answer)
        except ValueError as exc:
            raise HaproxyCommandRejected(self.name, command, str(exc)) from exc

    def set_map_entry(self, map_file: str, key: str, value: str) -> None:
        """Add or replace one entry of a map (runtime only). Raises
        HaproxyCommandRejected, HaproxyUnreachable."""
        verb = "set" if key in self.map_entries(map_file) else "add"
        self._expect_silence(f"{verb} map {check_map_path(map_file)} "
                             f"{check_name('map key', key)} {check_name('map value', value)}",
                             key, "")

    def delete_map_entry(self, map_file: str, key: str) -> None:
        """Remove one entry of a map when present (runtime only). Raises
        HaproxyCommandRejected, HaproxyUnreachable."""
        if key in self.map_entries(map_file):
            self._expect_silence(f"del map {check_map_path(map_file)} "
                                 f"{check_name('map key', key)}", key, "")

    def save_map(self, map_file: str) -> None:
        """Write the map's runtime entries into its file, so that a reload keeps them.
        Raises HaproxyCommandRejected, HaproxyUnreachable, RemoteError."""
        entries = self.map_entries(map_file)
        text = "".join(f"{key} {value}\n" for key, value in sorted(entries.items()))
        host = self.host if self.host is not None else LocalHost(self.name)
        host.put_file(map_file, text.encode(), mode=0o644)

    def save_state(self, state_file: str) -> None:
        """Write `show servers state` into the node's server-state-file, so that a reload
        (`load-server-state-from-file global`) keeps the runtime states instead of
        silently sending traffic back to the config's servers. Raises
        HaproxyUnreachable, HaproxyCommandRejected, RemoteError (writing the file)."""
        answer = self.command("show servers state")
        try:
            parse_servers_state(answer)  # never persist an error message as state
        except ValueError as exc:
            raise HaproxyCommandRejected(self.name, "show servers state",
                                         answer or str(exc)) from exc
        host = self.host if self.host is not None else LocalHost(self.name)
        host.put_file(state_file, answer.encode(), mode=0o644)
