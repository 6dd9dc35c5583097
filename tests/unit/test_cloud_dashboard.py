"""The dashboard check's pure parts: the login form, the landing page, and the check's
decisions against a recording stand-in session (no network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sidebyside.cloud.dashboard import (
    Credentials,
    check_dashboard,
    credentials_of,
    landing_problem,
    login_url,
    parse_login_form,
)

# as horizon 2025.1 renders /auth/login/ (trimmed)
LOGIN_PAGE = """<html><body>
<form id="" class="ng-pristine" ng-controller="hzLoginController" action="/auth/login/"
      method="POST" autocomplete="off">
<input type="hidden" name="csrfmiddlewaretoken" value="tok&amp;en">
<input type="text" name="fake_email" value="" autocomplete="new-password"/>
<input type="password" name="fake_password" value="" autocomplete="new-password"/>
<input type="hidden" name="region" value="default" id="id_region">
<input type="text" name="username" autofocus="autofocus" maxlength="255" id="id_username">
<input type="password" name="password" class="form-control" id="id_password">
</form></body></html>"""
OVERVIEW = '<html><span class="user-name">admin</span><h1>Overview</h1></html>'


def test_the_login_form_gives_its_hidden_fields_and_inputs() -> None:
    form = parse_login_form(LOGIN_PAGE)
    assert form is not None and form.action == "/auth/login/"
    assert form.fields == {"csrfmiddlewaretoken": "tok&en", "region": "default"}
    assert form.csrf_token == "tok&en" and form.missing() == []


def test_a_page_without_a_password_input_has_no_login_form() -> None:
    assert parse_login_form('<form action="/search"><input name="q"></form>') is None
    no_token = LOGIN_PAGE.replace('name="csrfmiddlewaretoken"', 'name="other"')
    form = parse_login_form(no_token)
    assert form is not None and form.missing() == ["csrfmiddlewaretoken"]


def test_landing_page_must_be_a_logged_in_users() -> None:
    url = "http://vip/project/"
    assert landing_problem(200, url, OVERVIEW, "admin") is None
    assert "HTTP 500" in str(landing_problem(500, url, OVERVIEW, "admin"))
    assert "login form again" in str(landing_problem(200, "http://vip/auth/login/",
                                                     LOGIN_PAGE, "admin"))
    assert "does not show the user's name" in str(landing_problem(200, url, OVERVIEW, "bob"))


def test_login_url_is_under_the_dashboards_root() -> None:
    assert login_url("http://127.0.8.10:20080/") == "http://127.0.8.10:20080/auth/login/"
    assert login_url("https://cloud/dashboard") == "https://cloud/dashboard/auth/login/"


def test_credentials_come_from_the_clouds_auth_and_are_never_shown() -> None:
    creds = credentials_of({"username": "admin", "password": "s3cret-pw", "auth_url": "x"})
    assert creds == Credentials("admin", "s3cret-pw") and "s3cret-pw" not in repr(creds)
    assert credentials_of({"username": "admin"}) is None


@dataclass
class _Response:
    status_code: int
    text: str
    url: str

    @property
    def content(self) -> bytes:
        return self.text.encode()


@dataclass
class FakeSession:
    """GET answers the login page; POST with the right password lands on the overview."""

    password: str = "right"
    posts: list[dict[str, Any]] = field(default_factory=list)

    def get(self, url: str, **_: Any) -> _Response:
        return _Response(200, LOGIN_PAGE, url)

    def post(self, url: str, data: dict[str, str], **_: Any) -> _Response:
        self.posts.append({"url": url, **data})
        if data.get("password") == self.password:
            return _Response(200, OVERVIEW, "http://vip:20080/project/")
        return _Response(200, LOGIN_PAGE, "http://vip:20080/auth/login/")


def test_a_real_login_posts_the_forms_fields_and_the_credentials() -> None:
    session = FakeSession()
    checks = check_dashboard("http://vip:20080/", Credentials("admin", "right"),
                             session_factory=lambda: session)
    assert [(c.name, c.status) for c in checks] == [("login page", "pass"), ("login", "pass")]
    (post,) = session.posts
    assert post["url"] == "http://vip:20080/auth/login/"
    assert post["csrfmiddlewaretoken"] == "tok&en" and post["region"] == "default"
    assert post["username"] == "admin" and post["password"] == "right"
    assert all("right" not in c.detail and "right" not in c.call for c in checks)


def test_a_refused_login_fails_and_no_credentials_fail_saying_why() -> None:
    checks = check_dashboard("http://vip:20080/", Credentials("admin", "wrong"),
                             session_factory=FakeSession)
    assert checks[1].status == "fail" and "login was refused" in checks[1].detail
    checks = check_dashboard("http://vip:20080/", None, session_factory=FakeSession)
    assert checks[1].status == "fail" and "no username and password" in checks[1].detail
