"""Curated translation rules: value changes the option metadata cannot express.

Rules are data (`sidebyside/config/rules/*.yaml`): `any.yaml` holds rules for settings
that can linger in a file through any upgrade (they are checked at every transition),
`<from>_<to>.yaml` those of one release transition (used when the upgrade spans it).

Kinds:
  rename       move a setting whose successor the metadata does not name
  map_value    replace whole values (case-insensitive), e.g. always -> True
  regex_value  substitute a pattern in values, e.g. ^mysql:// -> mysql+pymysql://
  compose_url  build one URL option from several old options, then remove them
  remove       remove a setting with a specific reason (richer than the metadata's)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from sidebyside.errors import InputError

KINDS = ("rename", "map_value", "regex_value", "compose_url", "remove", "ensure")


def release_key(release: str) -> tuple[int, ...]:
    """"2024.1" -> (2024, 1). Raises InputError for anything else."""
    try:
        return tuple(int(part) for part in release.split("."))
    except ValueError:
        raise InputError(f"release {release!r} is not YYYY.N") from None


@dataclass(frozen=True)
class UrlPart:
    option: str
    default: str


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    section: str  # "*" for any section
    options: tuple[str, ...]
    reason: str
    source: str  # the rules file, for the report
    services: tuple[str, ...] = ()  # empty: every service
    to_section: str | None = None
    to_option: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    pattern: str | None = None
    replace: str | None = None
    parts: dict[str, UrlPart] = field(default_factory=dict)
    template: str | None = None
    targets: tuple[dict[str, Any], ...] = ()
    value: str | None = None  # ensure: the value added when the option is not set

    def applies_to(self, service: str) -> bool:
        return not self.services or service in self.services

    def matches(self, section: str, key: str) -> bool:
        from sidebyside.config.ini import normalize_key, normalize_section
        if self.section != "*" and normalize_section(section) != normalize_section(self.section):
            return False
        return normalize_key(key) in {normalize_key(o) for o in self.options}


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def parse_rules(text: str, source: str) -> list[Rule]:
    """Parse one rules file. Raises InputError naming the file and rule."""
    data = yaml.safe_load(text) or {}
    rules: list[Rule] = []
    for index, raw in enumerate(data.get("rules") or []):
        where = f"{source}: rules[{index}]"
        try:
            kind = raw["kind"]
            if kind not in KINDS:
                raise InputError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
            options = _as_tuple(raw.get("option") or raw.get("options"))
            parts = {name: UrlPart(str(p["option"]), str(p.get("default", "")))
                     for name, p in (raw.get("parts") or {}).items()}
            if kind == "compose_url":
                options = tuple(p.option for p in parts.values())
            if not options:
                raise InputError(f"{where}: no option")
            if kind == "regex_value":
                re.compile(raw["pattern"])
            if kind == "ensure" and (len(options) != 1 or raw.get("section", "*") == "*"
                                     or "value" not in raw):
                raise InputError(f"{where}: ensure needs one option, its section and a value")
            rules.append(Rule(
                id=str(raw["id"]), kind=kind, section=str(raw.get("section", "*")),
                options=options, reason=" ".join(str(raw["reason"]).split()), source=source,
                services=_as_tuple(raw.get("services")), to_section=raw.get("to_section"),
                to_option=raw.get("to_option"),
                values={str(k).lower(): str(v) for k, v in (raw.get("values") or {}).items()},
                pattern=raw.get("pattern"), replace=raw.get("replace"), parts=parts,
                template=raw.get("template"),
                value=None if raw.get("value") is None else str(raw["value"]),
                targets=tuple(t if isinstance(t, dict) else {"option": t}
                              for t in raw.get("targets") or [])))
        except (KeyError, TypeError) as exc:
            raise InputError(f"{where}: missing or malformed field {exc}") from None
        except re.error as exc:
            raise InputError(f"{where}: bad pattern: {exc}") from None
    return rules


def rule_files(from_release: str, to_release: str, folder: str | None = None) -> list[str]:
    """Names (relative to rules/) of the rules files that apply to an upgrade from -> to:
    each `<a>_<b>.yaml` inside the span, oldest first, and `any.yaml` (every upgrade).
    `folder` picks a service's own settings rules (rules/horizon/) instead of the oslo
    ones at the top; a folder that does not exist has none."""
    low, high = release_key(from_release), release_key(to_release)
    names = []
    base = resources.files("sidebyside.config").joinpath("rules")
    where = base.joinpath(folder) if folder else base
    if not where.is_dir():
        return []
    prefix = f"{folder}/" if folder else ""
    for entry in sorted(where.iterdir(), key=lambda e: e.name):
        name = entry.name
        if not name.endswith(".yaml"):
            continue
        stem = name[: -len(".yaml")]
        if stem == "any":
            names.append(prefix + name)
            continue
        try:
            start, end = (release_key(part) for part in stem.split("_", 1))
        except (InputError, ValueError):
            continue
        if low <= start and end <= high:
            names.append(prefix + name)
    return names


def load_rules(from_release: str, to_release: str, service: str) -> list[Rule]:
    """Every rule for service on this transition, any.yaml first, then by release."""
    folder = resources.files("sidebyside.config").joinpath("rules")
    rules: list[Rule] = []
    for name in rule_files(from_release, to_release):
        text = folder.joinpath(name).read_text()
        rules += [r for r in parse_rules(text, f"rules/{name}") if r.applies_to(service)]
    return rules
