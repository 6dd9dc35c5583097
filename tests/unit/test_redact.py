from __future__ import annotations

import json
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sidebyside.redact import MASK, forget_secrets, redact, redact_obj, register_secret


@pytest.fixture(autouse=True)
def _clean():
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize("text,secret", [
    ("connection = mysql+pymysql://keystone:Kx93_pw@10.0.0.1/keystone", "Kx93_pw"),
    ("transport_url = rabbit://openstack:r4bbit!@ctl1:5672,openstack:r4bbit!@ctl2:5672/",
     "r4bbit!"),
    ("admin_password = s3cr3t-value", "s3cr3t-value"),
    ("OS_PASSWORD: abcdef123", "abcdef123"),
    ("X-Auth-Token: gAAAAABlongtokenvalue", "gAAAAABlongtokenvalue"),
    ("mysql -uroot -pTopSecret1 -h db", "TopSecret1"),
    ("memcache_secret_key = 0123456789abcdef", "0123456789abcdef"),
])
def test_secret_shapes_are_masked(text, secret):
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_registered_secret_masked_anywhere():
    register_secret("plain-words-pw")
    assert redact("error: access denied for plain-words-pw here") == \
        "error: access denied for *** here"
    assert redact_obj({"a": ["x plain-words-pw"], "n": 3}) == {"a": ["x ***"], "n": 3}


def test_ordinary_text_untouched():
    text = "copied 12 tables; keys rotated; token expiration 7200"
    assert redact(text) == text


def test_short_secrets_are_masked_only_as_whole_tokens():
    register_secret("ab")
    register_secret("x9")
    assert redact("ab cab") == "*** cab"
    assert redact("user:ab@host, (x9) tab x9y") == "user:***@host, (***) tab x9y"


@pytest.mark.parametrize("text", [
    "max_active_keys = 5",
    "-path = /var/lib/keystone",
    "password_file = /etc/sbs/db.password",
    "max_token_size = 255",
])
def test_settings_that_merely_mention_secrets_are_kept(text):
    assert redact(text) == text


SECRET = "Zq7-s3cr3t value"  # with a space: quoted forms carry it whole


@pytest.mark.parametrize("render", [
    lambda v: f'password: "{v}"',                       # YAML, double-quoted
    lambda v: "password: '" + v.replace("'", "''") + "'",  # YAML, single-quoted
    lambda v: yaml.safe_dump({"db_password": v}),       # YAML as a library writes it
    lambda v: json.dumps({"password": v}),              # JSON
    lambda v: json.dumps({"nested": {"admin_token": v}}, indent=2),
    lambda v: repr({"password": v}),                    # a Python dict repr
    lambda v: f"password = '{v}'",                      # ini / shell, quoted
    lambda v: f'--password "{v}"',                      # a command line, quoted
])
def test_quoted_json_and_yaml_values_are_masked(render):
    text = render(SECRET)
    out = redact(text)
    assert "s3cr3t" not in out and MASK in out


@pytest.mark.parametrize("text,secret", [
    ("--password hunter22 --user admin", "hunter22"),
    ("--password=hunter22", "hunter22"),
    ("--os-password hunter22", "hunter22"),
    ("env MYSQL_PWD=hunter22 mariadb -u root", "hunter22"),
    ("MYSQL_PWD: hunter22", "hunter22"),
    ("Authorization: Bearer eyJhbGciOi.J9.abc", "eyJhbGciOi.J9.abc"),
    ("authorization: basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ('{"Authorization": "Bearer eyJhbGciOi"}', "eyJhbGciOi"),
    ("curl -H 'Authorization: Basic dXNlcjpw'", "dXNlcjpw"),
    ("password: \"cut off at the end of the li", "cut off"),
    ("mysql+pymysql://root:p@ss@db1/nova", "ss@"),  # not just up to the first @
])
def test_more_secret_shapes_are_masked(text, secret):
    out = redact(text)
    assert secret not in out, out
    assert MASK in out


def test_url_password_with_an_at_sign_is_masked_whole():
    assert redact("mysql://root:p@ss@db1/nova") == "mysql://root:***@db1/nova"


@pytest.mark.parametrize("text", [
    "--password-file /etc/sbs/db.password",
    "token_expiration: 7200",
    "Basic configuration is done",
    'password_file: "/etc/sbs/pw"',
    "--user admin --verbose",
])
def test_lookalikes_are_kept(text):
    assert redact(text) == text


def test_redact_obj_masks_values_of_secret_keys():
    assert redact_obj({"password": "x", "db": {"MYSQL_PWD": 12345}, "port": 3306,
                       "enabled": True, "note": "password=y"}) == \
        {"password": MASK, "db": {"MYSQL_PWD": MASK}, "port": 3306, "enabled": True,
         "note": "password=" + MASK}


_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)
_shapes = st.sampled_from([
    "password: {}", 'password: "{}"', "password = '{}'", '{{"password": "{}"}}',
    "--password {}", "--password={}", "MYSQL_PWD={}", "Authorization: Bearer {}",
    "mysql -uroot -p{} db", "mysql+pymysql://nova:{}@db/nova", "X-Auth-Token: {}",
])
_secret_values = st.text(st.sampled_from("abcXYZ0189_-.!%+/"), min_size=6, max_size=30)


@settings(max_examples=300, deadline=None)
@given(before=_texts, after=_texts, shape=_shapes, value=_secret_values)
def test_a_secret_in_any_shape_is_masked_and_redact_is_idempotent(before, after, shape, value):
    if value.startswith("-") or set(value) <= set("-."):
        value = "k" + value
    text = f"{before}\n{shape.format(value)}\n{after}"
    once = redact(text)
    assert value not in once.split("\n")[1]
    assert redact(once) == once


@settings(max_examples=300, deadline=None)
@given(text=_texts, secrets=st.lists(st.text(min_size=1, max_size=8), max_size=4))
def test_redact_is_idempotent_on_any_text(text, secrets):
    forget_secrets()
    for secret in secrets:
        register_secret(secret)
    once = redact(text)
    assert redact(once) == once
    for secret in secrets:
        secret = secret.strip()
        if len(secret) >= 4 and MASK not in secret and "*" not in secret:
            assert secret not in once


@pytest.mark.parametrize("text", [
    "a." * 200_000, "mysql " * 50_000, "a://" * 100_000, "password: \"" + "a" * 400_000,
    "--password " * 40_000, "'password': '" * 30_000, "Authorization: " * 30_000,
    "x" * 400_000, "a:" * 200_000,
])
def test_redact_is_fast_on_long_text(text):
    register_secret("ab")
    register_secret("long-secret-value")
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 2.0
