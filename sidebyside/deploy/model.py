"""What a deploy is, as data: the variables sbs hands the operator's automation, the
fingerprint that makes a deploy idempotent, and the reading of ansible-runner events.

Pure logic only: nothing here runs a process or touches a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sidebyside.inventory import Inventory
from sidebyside.redact import redact, register_secret

# Operators' extra_vars may override sbs's variables (they know their site); a key
# starting with this prefix is sbs's, and an override of one is logged.
SBS_VAR_PREFIX = "sbs_"
_STDOUT_TAIL_LINES = 20
_MESSAGE_CHARS = 2000


def resolve_path(path: str, inventory_source: str) -> str:
    """`path` with ~ expanded, relative paths taken from the inventory file's directory
    (so an inventory and its playbook can move together)."""
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded) or inventory_source.startswith("<"):
        return os.path.normpath(os.path.abspath(expanded))
    base = os.path.dirname(os.path.abspath(inventory_source))
    return os.path.normpath(os.path.join(base, expanded))


def sbs_vars(inv: Inventory, *, python: str) -> dict[str, Any]:
    """The variables sbs provides to every deploy: the target release, the new database
    endpoint and the new controllers. `python` is the interpreter running sbs (the lab's
    playbook calls sbs's own code with it)."""
    new = inv.new
    return {
        "sbs_environment": inv.environment,
        "sbs_release_from": inv.release.from_,
        "sbs_release_to": inv.release.to,
        "sbs_release_via": list(inv.release.via),
        "sbs_releases": list(inv.release.path),
        "sbs_services": list(inv.ordered_services),
        "sbs_new_db_host": new.database.host,
        "sbs_new_db_port": new.database.port,
        "sbs_new_controllers": list(new.controllers),
        "sbs_hosts": {name: {"address": inv.hosts[name].address, "root": inv.hosts[name].root}
                      for name in new.controllers if name in inv.hosts},
        "sbs_python": python,
    }


def register_extra_var_secrets(extra_vars: Mapping[str, Any]) -> None:
    """Register every string value of the operator's `deploy.ansible.extra_vars` as a
    secret (they reach ansible's output, events and artifacts, and sbs cannot tell a
    site token from a path), except those of sbs's own `sbs_*` variables, which sbs
    knows are not secret (a release, a host list)."""
    for key, value in extra_vars.items():
        if not str(key).startswith(SBS_VAR_PREFIX):
            register_values(value)


def register_values(values: object) -> None:
    """Register every string inside `values` (nested lists and maps too) as a secret.
    Numbers and booleans are left: masking every `3` or `true` would make the output
    unreadable and hides nothing."""
    if isinstance(values, str):
        register_secret(values)
    elif isinstance(values, Mapping):
        for value in values.values():
            register_values(value)
    elif isinstance(values, list | tuple):
        for value in values:
            register_values(value)


def merge_extra_vars(provided: Mapping[str, Any],
                     operator: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """sbs's variables overlaid with the inventory's `deploy.ansible.extra_vars`.

    Returns (merged, names of sbs variables the operator overrode).
    """
    merged = {**provided, **operator}
    overridden = sorted(k for k in operator
                        if k in provided and provided[k] != operator[k])
    return merged, overridden


def command_environment(provided: Mapping[str, Any]) -> dict[str, str]:
    """The same variables for a deploy command, as `SBS_*` environment variables
    (lists space-separated; the host table as JSON)."""
    env: dict[str, str] = {}
    for key, value in provided.items():
        name = key.upper()
        if isinstance(value, list):
            env[name] = " ".join(str(v) for v in value)
        elif isinstance(value, dict):
            env[name] = json.dumps(value, sort_keys=True)
        else:
            env[name] = str(value)
    return env


def fingerprint(kind: str, parts: Mapping[str, Any]) -> str:
    """A stable digest of everything that defines a deploy (file digests, limit, vars).

    Only the digest is stored, so secrets among the extra vars never reach the journal.
    """
    canonical = json.dumps({"kind": kind, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class TaskFailure:
    task: str
    host: str
    message: str
    unreachable: bool = False

    def describe(self) -> str:
        what = "unreachable" if self.unreachable else "failed"
        return f"task {self.task!r} {what} on host {self.host}: {self.message}"


@dataclass
class HostCounts:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def describe(self) -> str:
        return (f"ok={self.ok} changed={self.changed} failed={self.failed} "
                f"unreachable={self.unreachable} skipped={self.skipped}")


_STATS_FIELDS = {"ok": "ok", "changed": "changed", "failures": "failed",
                 "dark": "unreachable", "skipped": "skipped", "rescued": "rescued",
                 "ignored": "ignored"}


def _res_message(res: Any) -> str:
    """The useful part of a module result: its msg, with the command's rc and stderr."""
    if not isinstance(res, dict):
        return str(res)[:_MESSAGE_CHARS]
    parts: list[str] = []
    msg = res.get("msg") or res.get("reason") or ""
    if msg:
        parts.append(str(msg).strip())
    if res.get("rc") not in (None, 0):
        parts.append(f"rc={res['rc']}")
    stderr = str(res.get("stderr") or res.get("module_stderr") or "").strip()
    if stderr:
        parts.append("stderr: " + " | ".join(stderr.splitlines()[-3:]))
    elif not msg:
        stdout = str(res.get("stdout") or res.get("module_stdout") or "").strip()
        if stdout:
            parts.append("stdout: " + " | ".join(stdout.splitlines()[-3:]))
    text = "; ".join(parts) or "no message"
    return redact(text[:_MESSAGE_CHARS])


@dataclass
class EventDigest:
    """Folds ansible-runner events into log lines, a per-host summary and failures."""

    hosts: dict[str, HostCounts] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)
    ignored_failures: list[TaskFailure] = field(default_factory=list)
    tasks_started: int = 0
    no_hosts_matched: bool = False
    stats_seen: bool = False
    _item_failure: dict[tuple[str, str], str] = field(default_factory=dict)
    _stdout_tail: deque[str] = field(default_factory=lambda: deque(maxlen=_STDOUT_TAIL_LINES))

    def _counts(self, host: str) -> HostCounts:
        return self.hosts.setdefault(host, HostCounts())

    def feed(self, event: Mapping[str, Any]) -> list[str]:
        """Take one event; return the lines to log for it (possibly none)."""
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        stdout = str(event.get("stdout") or "")
        for line in stdout.splitlines():
            if line.strip():
                self._stdout_tail.append(redact(line.strip()))
        host = str(data.get("host") or data.get("remote_addr") or "?")
        task = str(data.get("task") or "?").strip()
        res = data.get("res")

        if kind == "playbook_on_play_start":
            return [f"PLAY [{data.get('play') or data.get('name') or ''}]"]
        if kind == "playbook_on_task_start":
            self.tasks_started += 1
            return [f"TASK [{task}]"]
        if kind == "playbook_on_no_hosts_matched":
            self.no_hosts_matched = True
            return ["no hosts matched (check the inventory and the limit)"]
        if kind == "runner_on_ok":
            counts = self._counts(host)
            counts.ok += 1
            changed = isinstance(res, dict) and bool(res.get("changed"))
            counts.changed += changed
            return [f"  {host}: {'changed' if changed else 'ok'}"]
        if kind == "runner_on_skipped":
            self._counts(host).skipped += 1
            return [f"  {host}: skipped"]
        if kind == "runner_item_on_failed":
            message = _res_message(res)
            item = res.get("item") if isinstance(res, dict) else None
            # The first failing item is the one to show (later ones often fail alike).
            self._item_failure.setdefault((host, task), f"item {item!r}: {message}"
                                          if item is not None else message)
            return []
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            unreachable = kind == "runner_on_unreachable"
            message = _res_message(res)
            item_message = self._item_failure.pop((host, task), None)
            if item_message and isinstance(res, dict) and "results" in res:
                # A loop's own result only says "One or more items failed".
                message = item_message
            failure = TaskFailure(task=task, host=host, message=message, unreachable=unreachable)
            counts = self._counts(host)
            if data.get("ignore_errors") or (unreachable and data.get("ignore_unreachable")):
                counts.ignored += 1
                self.ignored_failures.append(failure)
                return [f"  {host}: FAILED (ignored): {message}"]
            if unreachable:
                counts.unreachable += 1
            else:
                counts.failed += 1
            self.failures.append(failure)
            return [f"  {host}: {'UNREACHABLE' if unreachable else 'FAILED'}: {message}"]
        if kind == "playbook_on_stats":
            return self._stats(data)
        if kind in ("verbose", "error", "warning", "deprecated"):
            # Without -v these are few: warnings and errors such as a syntax error.
            return [redact(line.strip()) for line in stdout.splitlines() if line.strip()]
        return []

    def _stats(self, data: Mapping[str, Any]) -> list[str]:
        """The recap is authoritative (it counts what our events may have missed)."""
        self.stats_seen = True
        hosts: set[str] = set()
        for ansible_name in _STATS_FIELDS:
            table = data.get(ansible_name) or {}
            if isinstance(table, dict):
                hosts.update(str(h) for h in table)
        for host in sorted(hosts):
            counts = HostCounts(**{ours: int((data.get(theirs) or {}).get(host, 0))
                                   for theirs, ours in _STATS_FIELDS.items()})
            self.hosts[host] = counts
        return [f"RECAP {host}: {self.hosts[host].describe()}" for host in sorted(hosts)]

    @property
    def stdout_tail(self) -> list[str]:
        return list(self._stdout_tail)

    def summary(self) -> dict[str, dict[str, int]]:
        return {host: dict(vars(counts)) for host, counts in sorted(self.hosts.items())}

    def failure_message(self, status: str, rc: int | None) -> str:
        """Why the run failed: the failing tasks (task, host, message), else the tail of
        ansible's output (a syntax error, a missing inventory)."""
        if self.failures:
            shown = self.failures[-3:]
            more = len(self.failures) - len(shown)
            text = "; ".join(f.describe() for f in shown)
            return text + (f" (and {more} more)" if more else "")
        if self.no_hosts_matched:
            return "no hosts matched the inventory and limit"
        if status == "timeout":
            return "ansible-playbook timed out"
        tail = " | ".join(self._stdout_tail) or "no output"
        return f"ansible-playbook ended {status} (rc={rc}): {tail}"


def limit_for(configured: str | None, new_controllers: Sequence[str]) -> str:
    """The --limit: the inventory's, else exactly the new controllers, so a playbook
    written for a whole site never touches the old side by accident."""
    return configured if configured else ",".join(new_controllers)
