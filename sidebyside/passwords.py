"""The one reader of a password: from a file, an environment variable or a MySQL
option file (~/.my.cnf style). Every password sbs uses comes through `read_password`,
whether the inventory names it (inventory.resolve_password) or the command line does
(`sbs db copy --from-password-file`), so one set of rules holds everywhere:

* at most one source; none means a passwordless account ("");
* a password file is read whole, line breaks at either end removed (a trailing
  newline is not part of the password), every other character kept, spaces included;
* an environment variable is taken as it is;
* an option file gives `password` of the first of [client], [mysql], [mariadb],
  [client-mariadb] that has one, surrounding spaces and one pair of matching quotes
  removed (as the MySQL client does); other sections are not read;
* a source that is missing or unreadable, or gives an empty password (nothing but
  spaces counts as empty), raises InputError naming the source; its `hint` is the
  inventory field (password_file, password_env or option_file). No message ever holds
  a line of the file: in a plain password file given as option_file, that is the
  password.

The value read is registered for redaction before it is returned.
"""

from __future__ import annotations

import os
from pathlib import Path

from sidebyside.config.ini import Document
from sidebyside.errors import InputError
from sidebyside.redact import register_secret

OPTION_FILE_SECTIONS = ("client", "mysql", "mariadb", "client-mariadb")


def read_password(*, password_file: str | Path | None = None, password_env: str | None = None,
                  option_file: str | Path | None = None, what: str = "database") -> str:
    """The password from at most one source; "" when none is given.

    `what` names the account in messages (an inventory path such as old.database, or
    user@host:port). Raises InputError naming the source, hint = its field name.
    """
    given = [(name, value) for name, value in (("password_file", password_file),
                                               ("password_env", password_env),
                                               ("option_file", option_file)) if value]
    if len(given) > 1:
        raise InputError(f"{what}: give one of password file, environment variable or "
                         f"option file, not several")
    if not given:
        return ""
    field, source = given[0]
    if field == "password_file":
        password = _file_password(Path(source).expanduser(), what)
    elif field == "password_env":
        password = _environment_password(str(source), what)
    else:
        password = _option_file_password(Path(source).expanduser(), what)
    if not password.strip():
        raise InputError(f"{what}: {field} {source} gives an empty password", hint=field)
    register_secret(password)
    return password


def _file_password(path: Path, what: str) -> str:
    try:
        return path.read_text().strip("\r\n")
    except OSError as exc:
        # The reason in parentheses: after `<dir>/x.password: ` redaction would take
        # it for the value of a `password: x` line and mask it.
        raise InputError(f"{what}: cannot read password file {path} ({exc.strerror})",
                         hint="password_file") from None


def _environment_password(name: str, what: str) -> str:
    if name not in os.environ:
        raise InputError(f"{what}: environment variable {name} is not set",
                         hint="password_env")
    return os.environ[name]


def _option_file_password(path: Path, what: str) -> str:
    """`password` of the first client section that has one.

    Read with config.ini (one INI reader). A MySQL option file differs from an
    oslo.config file in one way that matters here: leading spaces are insignificant
    (an indented `password = x` is a key, not a continuation line; option files have no
    continuation lines), so every line is left-stripped first. What oslo.config would
    refuse but an option file allows (`!include`, a key without a value) is skipped,
    as before: included files are not followed.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{what}: cannot read option file {path}: {exc.strerror}",
                         hint="option_file") from None
    document = Document.parse("".join(line.lstrip() for line in text.splitlines(True)),
                              path=str(path))
    for section in OPTION_FILE_SECTIONS:
        value = document.get_one(section, "password")
        if value is not None:
            return value
    headers = "" if document.section_names() else " (it has no [section] header)"
    raise InputError(f"{what}: option file {path} has no password in [client]{headers}; it "
                     f"needs a [client] section with password=...", hint="option_file")
