"""Keep secrets out of output, logs and the journal.

Two layers: every secret value sbs loads is registered here (so it is masked
wherever it appears verbatim), and well-known secret shapes (URL passwords,
`password = ...` lines, auth tokens) are masked even when never registered.
"""

from __future__ import annotations

import re
import threading

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host  (database URLs, transport_url)
    # (the lookbehind anchors the scheme's start: without it a long word backtracks
    # quadratically)
    (re.compile(r"(?P<pre>(?<![\w+.-])[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?P<post>@)"),
     r"\g<pre>" + MASK + r"\g<post>"),
    # further hosts of a multi-host URL: rabbit://u:p@h1:5672,u:p@h2:5672/
    (re.compile(r"(?P<pre>,[^:/@\s,]+:)(?P<secret>[^@\s,]+)(?P<post>@)"),
     r"\g<pre>" + MASK + r"\g<post>"),
    # ini / yaml / shell style `key = value` where the key's last word names a secret
    # (password, admin_token, memcache_secret_key; not max_active_keys, password_file)
    (re.compile(
        r"(?P<pre>\b[\w.-]*(?:password|passwd|secret|token|_key|credentials?)"
        r"\s*[=:]\s*)(?P<secret>(?!\*\*\*)[^\s,;'\"]+)", re.IGNORECASE),
     r"\g<pre>" + MASK),
    # HTTP auth headers
    (re.compile(r"(?P<pre>X-(?:Auth|Subject)-Token:\s*)(?P<secret>\S+)", re.IGNORECASE),
     r"\g<pre>" + MASK),
    # mysql -pSECRET on a MySQL client's command line (not `-path` in a diff)
    (re.compile(r"(?P<pre>\b(?:mysql|mariadb)[\w-]*\s(?:[^\n]*\s)?-p)(?P<secret>[^\s-]\S*)"),
     r"\g<pre>" + MASK),
]


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret value so that `redact` masks it wherever it appears."""
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = value.strip()
    if len(value) < 4:  # masking very short strings would shred ordinary text
        return
    with _lock:
        _secrets.add(value)


def forget_secrets() -> None:
    """Drop every registered secret (tests)."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    """Return `text` with registered secrets and secret-shaped values masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_obj(obj: object) -> object:
    """Redact every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj
