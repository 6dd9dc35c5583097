"""Release-note facts (`services/release_notes.yaml`) matched against the old cloud.

Pure: loading the data and matching it against catalog entries and parsed config
options; the pre-flight gathers those from the databases and controllers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from sidebyside.services.releases import parse as parse_release

SEVERITIES = ("ok", "warning", "blocker")


@dataclass(frozen=True)
class PythonSupport:
    minimum: tuple[int, int]
    max_tested: tuple[int, int]


@dataclass(frozen=True)
class RemovedApi:
    id: str
    service_types: tuple[str, ...]
    url_regex: str | None
    removed_in: str
    upstream: str
    severity: str
    advice: str


@dataclass(frozen=True)
class RemovedOption:
    id: str
    service: str
    file: str
    section: str
    option: str
    values_regex: str | None
    removed_in: str
    upstream: str
    severity: str
    advice: str


@dataclass(frozen=True)
class ReleaseNotes:
    python: dict[str, PythonSupport]
    removed_apis: tuple[RemovedApi, ...]
    removed_options: tuple[RemovedOption, ...]


@dataclass(frozen=True)
class CatalogEntry:
    """One endpoint (or an endpoint-less service) of the old Keystone catalog."""

    service_type: str
    service_name: str
    interface: str
    url: str


@dataclass(frozen=True)
class Finding:
    fact_id: str
    severity: str
    subject: str
    message: str
    advice: str


def _version(text: Any) -> tuple[int, int]:
    major, minor = str(text).split(".")[:2]
    return int(major), int(minor)


def parse_release_notes(raw: Mapping[str, Any]) -> ReleaseNotes:
    """Raises ValueError (naming the entry) for malformed data."""
    def need(entry: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in entry:
            raise ValueError(f"release_notes.yaml: {where}: missing {key}")
        return entry[key]

    python = {str(rel): PythonSupport(_version(v["min"]), _version(v["max_tested"]))
              for rel, v in (raw.get("python") or {}).items()}
    apis = []
    for i, e in enumerate(raw.get("removed_apis") or []):
        where = f"removed_apis[{i}]"
        severity = str(need(e, "severity", where))
        if severity not in SEVERITIES:
            raise ValueError(f"release_notes.yaml: {where}: severity {severity!r}")
        apis.append(RemovedApi(
            id=str(need(e, "id", where)),
            service_types=tuple(str(t) for t in need(e, "service_types", where)),
            url_regex=e.get("url_regex"), removed_in=str(need(e, "removed_in", where)),
            upstream=str(e.get("upstream", "")), severity=severity,
            advice=str(e.get("advice", ""))))
    options = []
    for i, e in enumerate(raw.get("removed_options") or []):
        where = f"removed_options[{i}]"
        severity = str(need(e, "severity", where))
        if severity not in SEVERITIES:
            raise ValueError(f"release_notes.yaml: {where}: severity {severity!r}")
        options.append(RemovedOption(
            id=str(need(e, "id", where)), service=str(need(e, "service", where)),
            file=str(need(e, "file", where)), section=str(need(e, "section", where)),
            option=str(need(e, "option", where)), values_regex=e.get("values_regex"),
            removed_in=str(need(e, "removed_in", where)),
            upstream=str(e.get("upstream", "")), severity=severity,
            advice=str(e.get("advice", ""))))
    return ReleaseNotes(python=python, removed_apis=tuple(apis),
                        removed_options=tuple(options))


@cache
def release_notes() -> ReleaseNotes:
    text = resources.files("sidebyside.services").joinpath("release_notes.yaml").read_text()
    return parse_release_notes(yaml.safe_load(text))


def _applies(removed_in: str, old: str, new: str, severity: str) -> str | None:
    """The severity of a fact for old -> new: None when the target still has it."""
    if parse_release(removed_in) > parse_release(new):
        return None
    if parse_release(removed_in) <= parse_release(old):
        return "warning"  # already gone before the upgrade: a leftover, not a new break
    return severity


def match_catalog(entries: Iterable[CatalogEntry], old: str, new: str,
                  notes: ReleaseNotes | None = None) -> list[Finding]:
    """Catalog entries naming APIs the target release no longer has."""
    notes = notes or release_notes()
    findings: list[Finding] = []
    entries = list(entries)
    for fact in notes.removed_apis:
        severity = _applies(fact.removed_in, old, new, fact.severity)
        if severity is None:
            continue
        pattern = re.compile(fact.url_regex) if fact.url_regex else None
        hits = [e for e in entries if e.service_type in fact.service_types
                and (pattern is None or pattern.search(e.url or ""))]
        seen: set[tuple[str, str]] = set()
        for entry in hits:
            key = (entry.service_type, entry.url)
            if key in seen:
                continue
            seen.add(key)
            where = f"{entry.service_type} ({entry.service_name or 'unnamed'})"
            if entry.url:
                where += f" {entry.interface} {entry.url}"
            findings.append(Finding(
                fact_id=fact.id, severity=severity, subject=f"catalog: {where}",
                message=f"{fact.upstream}" if fact.upstream else fact.id,
                advice=fact.advice))
    return findings


def split_values(value: str) -> list[str]:
    return [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]


def match_options(service: str, file: str, options: Mapping[tuple[str, str], str],
                  old: str, new: str, notes: ReleaseNotes | None = None) -> list[Finding]:
    """Options of one config file (`(section, option) -> value`, section names as
    written, options lower-case) that name removed drivers or plugins."""
    notes = notes or release_notes()
    findings: list[Finding] = []
    for fact in notes.removed_options:
        if fact.service != service or fact.file != file:
            continue
        severity = _applies(fact.removed_in, old, new, fact.severity)
        if severity is None:
            continue
        value = options.get((fact.section, fact.option.lower()))
        if value is None:
            continue
        if fact.values_regex:
            pattern = re.compile(fact.values_regex)
            bad = [v for v in split_values(value) if pattern.search(v)]
            if not bad:
                continue
            shown = ", ".join(bad)
        else:
            shown = value
        findings.append(Finding(
            fact_id=fact.id, severity=severity,
            subject=f"{file} [{fact.section}] {fact.option} = {shown}",
            message=fact.upstream or fact.id, advice=fact.advice))
    return findings


def python_finding(release: str, version: tuple[int, int],
                   notes: ReleaseNotes | None = None) -> tuple[str, str]:
    """(severity, message) for running `release` on Python `version`."""
    notes = notes or release_notes()
    support = notes.python.get(release)
    shown = f"{version[0]}.{version[1]}"
    if support is None:
        return "warning", f"no Python support data for {release} (python {shown})"
    if version < support.minimum:
        return "blocker", (f"python {shown} is older than {release} supports "
                           f"(>= {support.minimum[0]}.{support.minimum[1]})")
    if version > support.max_tested:
        return "warning", (f"python {shown} is newer than {release} was tested with "
                           f"(<= {support.max_tested[0]}.{support.max_tested[1]})")
    return "ok", f"python {shown} is supported by {release}"
