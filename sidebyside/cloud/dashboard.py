"""The dashboard (horizon) verified as a user meets it: its login page, and a real login.

No keystone catalog lists horizon, so the URL is the inventory's (`ha.dashboard_url`
through the VIP, `<side>.services.horizon.url` directly). The credentials are the
cloud's own (clouds.yaml's auth of the side's cloud), given to this module in memory:
never on a command line, in a URL or in what a check reports.

    GET  <url>auth/login/        200, a form with csrfmiddlewaretoken, username, password
    POST <url>auth/login/        the form's hidden fields and the credentials; redirects
                                 followed to the page the user lands on (the project
                                 overview), 200, not the login page, the user's name on it

The form parsing and the landing-page checks are pure (`parse_login_form`,
`landing_problem`); `check_dashboard` is the adapter (requests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from sidebyside.cloud.checks import Check
from sidebyside.redact import redact

LOGIN_PATH = "auth/login/"
TIMEOUT = 30.0
SERVICE = "horizon"


@dataclass(frozen=True)
class LoginForm:
    """The login form of a page: where it posts and the fields it sends as they are
    (hidden ones: the CSRF token, the region)."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    inputs: frozenset[str] = frozenset()  # every input's name

    @property
    def csrf_token(self) -> str | None:
        return self.fields.get("csrfmiddlewaretoken") or None

    def missing(self) -> list[str]:
        """The inputs a horizon login needs that the form lacks."""
        return [name for name in ("csrfmiddlewaretoken", "username", "password")
                if name not in self.inputs]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, dict[str, str], set[str]]] = []
        self._current: tuple[str, dict[str, str], set[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = (values.get("action", ""), {}, set())
            self.forms.append(self._current)
        elif tag in ("input", "select") and self._current is not None and values.get("name"):
            _, fields, inputs = self._current
            inputs.add(values["name"])
            if values.get("type") == "hidden":
                fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_login_form(html: str) -> LoginForm | None:
    """The page's form that has a password input (None when there is none). Pure."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    for action, fields, inputs in parser.forms:
        if "password" in inputs:
            return LoginForm(action=action, fields=dict(fields), inputs=frozenset(inputs))
    return None


def landing_problem(status: int, url: str, html: str, username: str) -> str | None:
    """Why the page a login landed on is not a logged-in user's (None when it is). Pure:
    a 200 that is not the login page again and shows the user's name."""
    if status != 200:
        return f"landed on {_path(url)} with HTTP {status}"
    if _path(url).rstrip("/").endswith("auth/login") or parse_login_form(html) is not None:
        return f"landed on the login form again ({_path(url)}): the login was refused"
    if username not in html:
        return f"{_path(url)} does not show the user's name"
    return None


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def login_url(base_url: str) -> str:
    return urljoin(base_url if base_url.endswith("/") else base_url + "/", LOGIN_PATH)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def credentials_of(auth: dict[str, Any]) -> Credentials | None:
    """A cloud's username and password (clouds.yaml `auth`), None without both."""
    username, password = auth.get("username"), auth.get("password")
    return Credentials(str(username), str(password)) if username and password else None


def check_dashboard(base_url: str, credentials: Credentials | None, *,
                    timeout: float = TIMEOUT,
                    session_factory: Callable[[], Any] | None = None) -> list[Check]:
    """The login page and a login at `base_url` (the dashboard's root); never raises
    for a failing check. Without credentials the login is failed, saying why."""
    import requests

    session = (session_factory or requests.Session)()
    url = login_url(base_url)
    page_call = f"GET {_path(url)}"
    started = time.monotonic()
    form: LoginForm | None = None
    try:
        response = session.get(url, timeout=timeout)
        if response.status_code != 200:
            page = _fail("login page", page_call, started, f"HTTP {response.status_code}")
        else:
            form = parse_login_form(response.text)
            missing = ["a login form"] if form is None else form.missing()
            page = (_fail("login page", page_call, started, f"no {', '.join(missing)} "
                          "on the page") if missing else
                    Check(SERVICE, "login page", page_call, "pass", time.monotonic() - started,
                          f"{base_url}: login form ({len(response.content)} bytes)"))
    except requests.RequestException as exc:
        page = _fail("login page", page_call, started, _error(exc))
    checks = [page]
    login_call = f"POST {_path(url)} (then the redirects)"
    if page.status != "pass" or form is None:
        checks.append(Check(SERVICE, "login", login_call, "fail",
                            detail="not run: the login page failed"))
        return checks
    if credentials is None:
        checks.append(Check(SERVICE, "login", login_call, "fail",
                            detail="not run: no username and password in the cloud's auth"))
        return checks
    started = time.monotonic()
    data = {**form.fields, "username": credentials.username,
            "password": credentials.password}
    try:
        response = session.post(urljoin(url, form.action or url), data=data,
                                headers={"Referer": url}, timeout=timeout,
                                allow_redirects=True)
        problem = landing_problem(response.status_code, response.url, response.text,
                                  credentials.username)
        checks.append(_fail("login", login_call, started, problem) if problem else
                      Check(SERVICE, "login", login_call, "pass", time.monotonic() - started,
                            f"{credentials.username} logged in: {_path(response.url)} "
                            "shows the user"))
    except requests.RequestException as exc:
        checks.append(_fail("login", login_call, started, _error(exc)))
    return checks


def _fail(name: str, call: str, started: float, detail: str) -> Check:
    return Check(SERVICE, name, call, "fail", time.monotonic() - started, redact(detail))


def _error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
