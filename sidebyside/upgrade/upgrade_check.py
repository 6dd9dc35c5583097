"""`<service>-status upgrade check --json` (oslo.upgradecheck): run, parse, judge.

The JSON document is `{"name": title, "checks": [{"check": name, "result": code,
"details": text|null}]}` printed on one line; the exit code is the worst result:
0 success, 1 warning, 2 failure (255 when the checker itself crashed).

Some checkers print only the table: placement-status (2023.1 .. 2026.1 at least)
accepts `--json` but hands its own ConfigOpts to `upgradecheck.run`, while the JSON
switch is read from the module's global CONF; nova-status has its own parser without
`--json`. The table is parsed then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sidebyside.errors import PreflightError, SbsError
from sidebyside.redact import redact
from sidebyside.remote.base import Host
from sidebyside.services.catalog import ServiceInfo
from sidebyside.upgrade.commands import LogSink, display, execute, output_tail, render

STATUS_TIMEOUT = 300.0


class Code(IntEnum):
    SUCCESS = 0
    WARNING = 1
    FAILURE = 2


@dataclass(frozen=True)
class CheckItem:
    name: str
    code: Code
    details: str = ""


@dataclass(frozen=True)
class StatusReport:
    service: str
    title: str
    code: Code
    items: tuple[CheckItem, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> list[CheckItem]:
        return [i for i in self.items if i.code == Code.FAILURE]

    @property
    def warnings(self) -> list[CheckItem]:
        return [i for i in self.items if i.code == Code.WARNING]

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "title": self.title, "code": int(self.code),
                "result": self.code.name.lower(),
                "checks": [{"check": i.name, "code": int(i.code),
                            "result": i.code.name.lower(), "details": i.details}
                           for i in self.items]}


def _json_document(stdout: str) -> dict[str, Any] | None:
    """The last line of stdout that is a JSON object (log lines may precede it)."""
    for line in reversed(stdout.splitlines()):
        text = line.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    return None


_TABLE_RESULTS = {"success": Code.SUCCESS, "warning": Code.WARNING, "failure": Code.FAILURE}


def _table_document(stdout: str) -> dict[str, Any] | None:
    """The same document from oslo.upgradecheck's text table:
    `| Check: name |`, `| Result: Success |`, `| Details: text |` (+ wrapped lines)."""
    title = ""
    checks: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    field_name = ""
    for line in stdout.splitlines():
        text = line.strip()
        if not (text.startswith("|") and text.endswith("|")):
            continue
        cell = text[1:-1].strip()
        if cell.startswith("Check: "):
            current = {"check": cell[len("Check: "):], "result": None, "details": ""}
            checks.append(current)
            field_name = "check"
        elif cell.startswith("Result: ") and current is not None:
            current["result"] = _TABLE_RESULTS.get(cell[len("Result: "):].lower(), 2)
            field_name = "result"
        elif cell.startswith("Details: ") and current is not None:
            details = cell[len("Details: "):].strip()
            current["details"] = "" if details == "None" else details
            field_name = "details"
        elif current is not None and field_name == "details" and cell:
            current["details"] = f"{current['details']} {cell}".strip()
        elif current is None and cell:
            title = cell
    if not checks:
        return None
    return {"name": title, "checks": checks}


def _code(value: Any) -> Code:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return Code.FAILURE
    return Code(min(max(number, 0), 2))


def parse_status_output(service: str, stdout: str, returncode: int) -> StatusReport:
    """Pure. Raises ValueError when the output has no oslo.upgradecheck JSON or the
    exit code is not 0, 1 or 2 (the checker crashed)."""
    if returncode not in (0, 1, 2):
        raise ValueError(f"{service}-status exited {returncode}: the check itself failed")
    data = _json_document(stdout) or _table_document(stdout)
    if data is None or not isinstance(data.get("checks"), list):
        raise ValueError(f"{service}-status printed no upgrade-check result (JSON or table)")
    items = tuple(
        CheckItem(name=str(entry.get("check", "?")), code=_code(entry.get("result")),
                  details=redact(str(entry.get("details") or "")))
        for entry in data["checks"] if isinstance(entry, dict))
    worst = max([Code(returncode), *(i.code for i in items)])
    return StatusReport(service=service, title=str(data.get("name", f"{service}-status")),
                        code=worst, items=items)


def interpreter_of(host: Host, script: str) -> str:
    """The interpreter named by the shebang of `script` on `host`. Raises
    PreflightError when the script is missing or has no absolute shebang."""
    try:
        head = host.read_file(script)[:512].decode("utf-8", "replace")
    except SbsError as exc:
        raise PreflightError(f"{script} on {host.name}: cannot be read ({exc.message})",
                             hint="is the new release installed there?") from exc
    first = head.splitlines()[0] if head else ""
    words = first[2:].split() if first.startswith("#!") else []
    if not words or not words[0].startswith("/"):
        raise PreflightError(f"{script} on {host.name}: no interpreter in its first line "
                             f"({first[:80]!r})")
    if words[0].endswith("/env") and len(words) > 1:
        return words[1]  # `#!/usr/bin/env python3`: found on the PATH
    return words[0]


def check_upgrade_status(host: Host, service_info: ServiceInfo, bin_dir: str, etc_dir: str,
                         log: LogSink, *, timeout: float = STATUS_TIMEOUT) -> StatusReport:
    """Run the service's status check with the new release's code and parse it.

    Raises PreflightError when the checker cannot run or prints no usable result
    (its output tail in the message), CommandFailed when it cannot be started or
    times out, InputError for a service without a status check.
    """
    if not service_info.status_check:
        raise PreflightError(f"{service_info.name} has no status check in the catalog")
    values = {"bin": bin_dir.rstrip("/"), "etc": etc_dir.rstrip("/")}
    if service_info.status_check_interpreter_of:
        values["python"] = interpreter_of(
            host, f"{values['bin']}/{service_info.status_check_interpreter_of}")
        values["script"] = service_info.status_check_script or ""
    argv = render(service_info.status_check, values)
    run = execute(host, argv, service=service_info.name, stage="upgrade check",
                  timeout=timeout, log=log)
    try:
        report = parse_status_output(service_info.name, run.stdout, run.returncode)
    except ValueError as exc:
        raise PreflightError(f"`{display(argv)}` on {host.name}: {exc}\n"
                             f"{output_tail(run.lines)}") from None
    for item in report.items:
        if item.code != Code.SUCCESS:
            log(f"{service_info.name}-status: {item.code.name.lower()}: {item.name}: "
                f"{item.details}")
    return report


def require_no_failure(report: StatusReport, accepted: frozenset[str] = frozenset()) -> None:
    """Raises PreflightError listing every failed check not in `accepted` (checks the
    operator reviewed and accepted in the inventory); warnings pass."""
    failures = [i for i in report.failures if i.name not in accepted]
    if failures:
        lines = [f"  {i.name}: {i.details or '(no details)'}" for i in failures]
        raise PreflightError(
            f"{report.service}-status upgrade check failed "
            f"({len(failures)} failure(s)):\n" + "\n".join(lines),
            hint=f"fix what {report.service}-status reports, then re-run")
