"""Keep secrets out of output, logs and the journal.

Two layers: every secret value sbs loads is registered here (so it is masked
wherever it appears verbatim), and well-known secret shapes (URL passwords,
`password = ...` lines and their quoted, JSON and YAML forms, `--password x`,
`MYSQL_PWD=x`, auth headers and tokens) are masked even when never registered.

`redact` is idempotent (masking masked text changes nothing) and linear in the
length of the text: every pattern starts only at the start of a word run and
never scans past the end of a line, so a long log line cannot make it slow.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
# A registered secret shorter than this is masked only where it stands as a whole
# token (not inside a longer word), so a three-letter password does not shred text.
SHORT_SECRET = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_short_pattern: re.Pattern[str] | None = None

# The last word of a key that names a secret: password, admin_token, memcache_secret_key,
# MYSQL_PWD, credentials (not max_active_keys, password_file, token_expiration).
_SECRET_KEY = r"[\w.-]*(?:password|passwd|_pwd|secret|token|_key|credentials?)"
# A key starts where a run of key characters starts (a lookbehind rather than \b: with
# \b every `.`-separated piece of a long dotted word would be a start, quadratic).
_KEY_START = r"(?<![\w.-])"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host  (database URLs, transport_url)
    # (the lookbehind anchors the scheme's start: without it a long word backtracks
    # quadratically; the password's bound, 512, keeps `a://a://...` without `@` linear)
    # The password runs to the `@` that is followed by a host (so `p@ss@db1` is masked
    # whole, not up to its first `@`).
    (re.compile(r"(?P<pre>(?<![\w+.:/-])[a-zA-Z][\w+.-]*://[^:/@\s]*:)"
                r"(?P<secret>\S{1,512}?)(?P<post>@)(?=[^@\s/,?#]*(?:[/\s,?#]|$))"),
     r"\g<pre>" + MASK + r"\g<post>"),
    # further hosts of a multi-host URL: rabbit://u:p@h1:5672,u:p@h2:5672/
    (re.compile(r"(?P<pre>,[^:/@\s,]+:)(?P<secret>[^@\s,]{1,512})(?P<post>@)"),
     r"\g<pre>" + MASK + r"\g<post>"),
    # HTTP auth headers, also as a JSON/YAML/dict key: the scheme word is kept
    (re.compile(r"(?P<pre>(?<![\w-])(?:Proxy-)?Authorization[\"']?\s*[:=]\s*[\"']?"
                r"(?:(?:Bearer|Basic|Digest|Negotiate|Token|OAuth)\s+)?+)"
                r"(?P<secret>(?!\*\*\*)[^\s\"',;]+)", re.IGNORECASE),
     r"\g<pre>" + MASK),
    (re.compile(r"(?P<pre>(?<![\w-])Bearer\s+)(?P<secret>(?!\*\*\*)[\w.~+/-]+=*)"),
     r"\g<pre>" + MASK),
    (re.compile(r"(?P<pre>(?<![\w-])X-(?:Auth|Subject)-Token[\"']?\s*[:=]\s*[\"']?)"
                r"(?P<secret>(?!\*\*\*)[^\s\"',;]+)", re.IGNORECASE),
     r"\g<pre>" + MASK),
    # a quoted value of a secret key: password: "x y", {"password": "x"}, 'password': 'x',
    # password = 'x' (a JSON escape or YAML's doubled '' stays inside the value; a value
    # cut off at the end of a line is masked to its end)
    (re.compile(_KEY_START + r"(?P<pre>" + _SECRET_KEY + r"[\"']?\s*[=:]\s*\")"
                r"(?:\\.|[^\"\\\n])*\"?", re.IGNORECASE),
     r'\g<pre>' + MASK + '"'),
    (re.compile(_KEY_START + r"(?P<pre>" + _SECRET_KEY + r"[\"']?\s*[=:]\s*')"
                r"(?:''|[^'\n])*'?", re.IGNORECASE),
     r"\g<pre>" + MASK + "'"),
    # ini / yaml / shell style `key = value`, `KEY=value` where the key's last word
    # names a secret (also the `--password=x` of a command line)
    (re.compile(_KEY_START + r"(?P<pre>" + _SECRET_KEY + r"[\"']?\s*[=:]\s*)"
                r"(?P<secret>(?!\*\*\*)[^\s,;'\"]+)", re.IGNORECASE),
     r"\g<pre>" + MASK),
    # a command line's `--password x`, `--db-password 'x y'` (not --password-file x)
    (re.compile(r"(?P<pre>(?<![\w-])--[\w-]*(?:password|passwd|secret|token)\s+)"
                r"(?P<secret>(?!-)(?:\"[^\"\n]*\"|'[^'\n]*'|\S+))",
                re.IGNORECASE),
     r"\g<pre>" + MASK),
]

# mysql -pSECRET on a MySQL client's command line (not `-path` in a diff): found line by
# line after the client's name (one pattern spanning both would rescan the rest of the
# line from every `mysql` in it, quadratic on a long line)
_MYSQL_CLIENT = re.compile(r"\b(?:mysql|mariadb)[\w-]*\s")
_SHORT_PASSWORD_OPTION = re.compile(r"(?<!\S)-p(?P<secret>[^\s-]\S*)")


def _mask_client_passwords(text: str) -> str:
    if "mysql" not in text and "mariadb" not in text:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        client = _MYSQL_CLIENT.search(line)
        if client is not None:
            rest = _SHORT_PASSWORD_OPTION.sub("-p" + MASK, line[client.end():])
            lines[index] = line[:client.end()] + rest
    return "\n".join(lines)


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret value so that `redact` masks it wherever it appears (one
    shorter than SHORT_SECRET characters only as a whole token)."""
    global _short_pattern
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = value.strip()
    if not value or set(value) <= set(MASK):  # nothing, or part of the mask itself
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        if len(value) < SHORT_SECRET:
            _short_pattern = _whole_tokens(s for s in _secrets if len(s) < SHORT_SECRET)


def _whole_tokens(values: object) -> re.Pattern[str]:
    words = sorted(values, key=len, reverse=True)  # type: ignore[call-overload]
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")


def forget_secrets() -> None:
    """Drop every registered secret (tests)."""
    global _short_pattern
    with _lock:
        _secrets.clear()
        _short_pattern = None


def redact(text: str) -> str:
    """Return `text` with registered secrets and secret-shaped values masked."""
    if not text:
        return text
    with _lock:
        known = sorted((s for s in _secrets if len(s) >= SHORT_SECRET), key=len, reverse=True)
        short = _short_pattern
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    if short is not None:
        text = short.sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _mask_client_passwords(text)


_SECRET_KEY_NAME = re.compile(_SECRET_KEY, re.IGNORECASE)


def redact_obj(obj: object) -> object:
    """Redact every string inside a JSON-like structure; the value of a key that names
    a secret (`password`, `admin_token`, `MYSQL_PWD`) is masked whatever it is, as
    the same pair would be in text."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {key: MASK if _names_secret(key, value) else redact_obj(value)
                for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


def _names_secret(key: object, value: object) -> bool:
    return (isinstance(key, str) and _SECRET_KEY_NAME.fullmatch(key) is not None
            and isinstance(value, str | int | float) and not isinstance(value, bool)
            and value != "")
