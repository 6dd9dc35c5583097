"""Where a database server is and how to log in: URL parsing, inventory sections.

URL form: mysql://user@host:port (no password in URLs: it comes from a file, an
environment variable or a ~/.my.cnf-style option file, read by sidebyside.passwords,
the one password reader, and registered as a secret).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sidebyside.errors import InputError
from sidebyside.passwords import read_password
from sidebyside.redact import register_secret

DEFAULT_PORT = 3306
# Every session is bounded (issue 15): a server that stops answering, or a half-open TCP
# connection, fails with UnreachableError instead of hanging a worker forever. Reads and
# writes get a long budget: one statement of the copy may legitimately run for minutes.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 900.0
DEFAULT_WRITE_TIMEOUT = 900.0
_URL = re.compile(r"^(?:mysql|mariadb)(?:\+\w+)?://(?:(?P<user>[^:@/]+)(?::(?P<pw>[^@/]*))?@)?"
                  r"(?P<host>\[[^\]]+\]|[^:/?]+)(?::(?P<port>\d+))?/?$")


@dataclass(frozen=True)
class DbEndpoint:
    host: str
    port: int = DEFAULT_PORT
    user: str = "root"
    password: str = field(default="", repr=False)
    # TLS: when tls_ca is set the server's certificate must chain to it (and name the
    # host, where the host is a name); tls_cert/tls_key are a client certificate.
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    socket: str | None = None       # a unix socket path, used instead of host:port

    def __post_init__(self) -> None:
        register_secret(self.password)

    @property
    def url(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_url(url: str) -> tuple[str, int, str]:
    """mysql://user@host:port -> (host, port, user). Raises InputError.

    A password inside the URL is refused: it would end up in shell history and `ps`.
    No error echoes such a URL or any part of it: a password may itself hold `@` or
    `:`, so where it ends cannot be known (`mysql://root:p@ss@db1`); the host is named
    only when the URL has a single `@`, i.e. when the password cannot run into it.
    """
    text = url.strip()
    _, separator, rest = text.partition("://")
    # everything before the last `@` is the login, however many `@`, `:` or `/` the
    # password holds; a `:` in it means a password
    if separator and ":" in rest.rpartition("@")[0]:
        raise InputError(f"database URL{_host_if_unambiguous(rest)} holds a password: "
                         f"put the password in a file or environment variable, not in the "
                         f"URL (mysql://user@host:port)")
    match = _URL.match(text)
    shown = _shown(text)
    if not match:
        raise InputError(f"database URL {shown} is not of the form mysql://user@host:port")
    host = match.group("host").strip("[]")
    port = int(match.group("port") or DEFAULT_PORT)
    if not 0 < port < 65536:
        raise InputError(f"database URL {shown}: port {port} is out of range")
    return host, port, match.group("user") or "root"


def _shown(text: str) -> str:
    """The URL quoted in an error, unless a password could hide in it: a second `:`
    after the scheme (mysql://root:secret, no `@`) may be one."""
    rest = text.partition("://")[2] if "://" in text else text
    if rest.count(":") > 1 or ("@" in rest and ":" in rest.partition("@")[0]):
        return "(not shown: it may hold a password)"
    if "@" not in rest and ":" in rest and not rest.rpartition(":")[2].strip("/").isdigit():
        return "(not shown: it may hold a password)"
    return repr(text)


_PLAIN_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$")


def _host_if_unambiguous(rest: str) -> str:
    """ ' for HOST' when exactly one `@` separates the login from a plain host, else ''."""
    if rest.count("@") != 1:
        return ""
    host = rest.rpartition("@")[2].rstrip("/")
    return f" for {host}" if _PLAIN_HOST.match(host) else ""


def endpoint_from_url(url: str, **password_source: Any) -> DbEndpoint:
    """Build an endpoint from a URL and at most one password source (keyword arguments of
    sidebyside.passwords.read_password). Raises InputError."""
    host, port, user = parse_url(url)
    password = read_password(what=f"{user}@{host}:{port}", **password_source)
    return DbEndpoint(host=host, port=port, user=user, password=password)


def endpoint_from_inventory(database: Any, where: str | None = None) -> DbEndpoint:
    """From an inventory `database:` section (a mapping or an object with those fields);
    `where` (its inventory path, e.g. old.database) names it in errors, else
    user@host:port. Raises InputError when its password cannot be read."""
    def get(name: str) -> Any:
        if isinstance(database, dict):
            return database.get(name)
        return getattr(database, name, None)

    host, port, user = get("host"), int(get("port") or DEFAULT_PORT), get("user") or "root"
    password = read_password(password_file=get("password_file"),
                             password_env=get("password_env"),
                             option_file=get("option_file"),
                             what=where or f"{user}@{host}:{port}")
    return replace(DbEndpoint(host=str(host), port=port, user=str(user), password=password),
                   **inventory_session_options(database))


def inventory_session_options(database: Any) -> dict[str, Any]:
    """TLS, timeouts and socket of an inventory `database:` section, as DbEndpoint fields
    (absent ones take DbEndpoint's defaults)."""
    def get(name: str) -> Any:
        if isinstance(database, dict):
            return database.get(name)
        return getattr(database, name, None)

    tls = get("tls")

    def tls_field(name: str) -> Any:
        if not tls:
            return None
        return tls.get(name) if isinstance(tls, dict) else getattr(tls, name, None)

    return {"tls_ca": _optional_str(tls_field("ca")),
            "tls_cert": _optional_str(tls_field("cert")),
            "tls_key": _optional_str(tls_field("key")),
            "connect_timeout": _seconds(get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT),
            "read_timeout": _seconds(get("read_timeout"), DEFAULT_READ_TIMEOUT),
            "write_timeout": _seconds(get("write_timeout"), DEFAULT_WRITE_TIMEOUT),
            "socket": _optional_str(get("socket"))}


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _seconds(value: Any, default: float) -> float:
    """A timeout from the inventory (a number of seconds); absent -> the default."""
    if value is None:
        return default
    return float(getattr(value, "total_seconds", lambda: value)())
