from __future__ import annotations

import pytest

from sidebyside.redact import forget_secrets, redact, redact_obj, register_secret


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


def test_short_secrets_not_registered():
    register_secret("ab")
    assert redact("ab cab") == "ab cab"


@pytest.mark.parametrize("text", [
    "max_active_keys = 5",
    "-path = /var/lib/keystone",
    "password_file = /etc/sbs/db.password",
    "max_token_size = 255",
])
def test_settings_that_merely_mention_secrets_are_kept(text):
    assert redact(text) == text
