"""Translate a service's configuration from one release to another, and say what
happened to every setting.

Pure: documents and metadata in, documents and a report out. The passes, in order:

1. names: a deprecated name or group becomes the current one (new release metadata;
   the old release's metadata resolves aliases the new one no longer lists);
2. curated rules (sidebyside/config/rules): value changes the metadata cannot express;
3. removals: an option deprecated for removal in the new release, or gone from it,
   is removed and left behind as a comment with the reason; an option neither
   release knows is kept and reported as unknown;
4. hosts: old controller names/addresses -> new ones, database URLs -> the new
   database server (an explicit map, never guessed).

Every setting of the old file gets a `SettingReport`: where it went and why, and
whether it differs from the OLD release's default (a custom setting). Values of
secret options and URL passwords are masked in everything the report holds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, unquote

from sidebyside.config.ini import (
    Document,
    Entry,
    dynamic_groups,
    normalize_key,
    normalize_section,
)
from sidebyside.config.metadata import (
    Lookup,
    OptionMeta,
    ReleaseMetadata,
    equals_default,
)
from sidebyside.config.rules import Rule
from sidebyside.redact import MASK, redact, register_secret

# keystoneauth plugin options: loaded at run time by the auth plugin named in
# auth_type, so the generator's metadata never lists them. Kept, reported as such.
AUTH_PLUGIN_OPTIONS = frozenset({
    "auth_url", "username", "user_id", "password", "project_name", "project_id",
    "project_domain_name", "project_domain_id", "user_domain_name", "user_domain_id",
    "domain_name", "domain_id", "system_scope", "trust_id", "default_domain_id",
    "default_domain_name", "application_credential_id", "application_credential_name",
    "application_credential_secret", "token", "endpoint", "tenant_name", "tenant_id",
    "passcode", "user_name", "identity_provider", "protocol", "access_token",
    "auth_methods", "endpoint_override", "split_loggers", "collect_timing", "timeout",
    "keyfile", "certfile", "cafile", "insecure", "service_type", "service_name",
    "valid_interfaces", "region_name", "status_code_retries", "connect_retries",
})
SECRET_AUTH_PLUGIN_OPTIONS = frozenset({"password", "application_credential_secret",
                                        "token", "passcode", "access_token"})
# for options no metadata describes: names that look like secrets
_SECRET_KEY_SHAPE = re.compile(
    r"(password|passwd|secret$|_secret|secret_key|^token$|_token$|_key$)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?:://|,)[^:/@\s,]*:(?P<password>[^@\s,]+)@")
_SQL_URL = re.compile(r"^(?P<scheme>(?:mysql|mariadb|postgresql|postgres)(?:\+\w+)?://)"
                      r"(?P<creds>[^@/]*@)?(?P<netloc>[^/?]*)(?P<rest>.*)$", re.DOTALL)

KEPT, RENAMED, REWRITTEN, REMOVED, UNKNOWN, ADDED = (
    "kept", "renamed", "value rewritten", "removed", "unknown", "added")
RENAMED_AND_REWRITTEN = "renamed and value rewritten"


_TRANSPORT_URL = re.compile(r"^(?P<head>(?:rabbit|amqp|kombu\+\w+)://[^/?]*)"
                            r"(?:/(?P<vhost>[^?]*))?(?P<query>\?.*)?$", re.DOTALL)


@dataclass(frozen=True)
class BusMove:
    """The new side's bus of its own (inventory `old.broker` -> `new.broker`): every
    oslo.messaging transport URL naming the old vhost is pointed at the new one, and at
    the new broker's address when it is another machine. A carried config must never
    put the new side's RPC workers on the live cloud's queues."""

    old_vhost: str
    new_vhost: str
    old_hosts: frozenset[str] = frozenset()   # the old broker's addresses
    new_host: str | None = None               # the new broker's, when it is elsewhere

    def apply(self, value: str) -> str | None:
        """The URL on the new bus, or None when `value` is no transport URL of the old
        vhost (left as it is). Pure."""
        match = _TRANSPORT_URL.match(value.strip())
        if match is None or _vhost_name(match.group("vhost")) != _vhost_name(self.old_vhost):
            return None
        head = match.group("head")
        if self.new_host:
            head = _move_broker_hosts(head, self.old_hosts, self.new_host)
        vhost = "" if _vhost_name(self.new_vhost) == "/" else quote(self.new_vhost, safe="")
        return f"{head}/{vhost}{match.group('query') or ''}"

    def still_old(self, value: str) -> str | None:
        """Why a (translated) transport URL may still reach the old side's bus, or None.
        Pure. Only where both sides use one vhost name on two brokers can it: a host of
        the URL that is not the new broker's address (a name the inventory does not
        give for the old broker, say) cannot be told apart from the old one."""
        match = _TRANSPORT_URL.match(value.strip())
        if match is None or _vhost_name(match.group("vhost")) != _vhost_name(self.old_vhost):
            return None
        if self.new_host is None:
            return f"vhost {self.old_vhost!r} on the old side's broker"
        hosts = [part.rpartition("@")[2].rsplit(":", 1)[0]
                 for part in match.group("head").partition("://")[2].split(",")]
        others = [h for h in hosts if h != self.new_host]
        return (f"host {', '.join(others)} is not the new broker ({self.new_host}) and vhost "
                f"{self.old_vhost!r} is the old side's" if others else None)


def follow_bus(data: bytes, bus: BusMove, *, path: str) -> tuple[bytes, list[str]]:
    """A node's config file (a compute's nova.conf, an agent's neutron.conf) with every
    transport URL of `bus.old_vhost` moved by `bus`, byte for byte otherwise; and
    `[section] key` of each URL moved. Pure. Already moved URLs are left alone, so
    following twice changes nothing."""
    document = Document.parse(data, path=path)
    moved: list[str] = []
    for section, entry in list(document.iter_entries()):
        target = bus.apply(entry.value)
        if target is not None and target != entry.value.strip():
            document.set_value(entry, target)
            moved.append(f"[{section.name}] {entry.key}")
    return (document.to_bytes() if moved else data), moved


def _vhost_name(text: str | None) -> str:
    return unquote(text or "").strip() or "/"


def _move_broker_hosts(head: str, old_hosts: frozenset[str], new_host: str) -> str:
    """`scheme://u:p@h1:5672,u:p@h2:5672` with every host of `old_hosts` replaced."""
    scheme, _, rest = head.partition("://")
    moved = []
    for part in rest.split(","):
        creds, at, hostport = part.rpartition("@")
        host, colon, port = hostport.rpartition(":") if hostport.count(":") == 1 \
            else (hostport, "", "")
        if host in old_hosts:
            host = new_host
        moved.append(f"{creds}{at}{host}{colon}{port}")
    return f"{scheme}://{','.join(moved)}"


@dataclass(frozen=True)
class HostMap:
    """Explicit rewriting of hosts in values: names and addresses, and the database
    server (host[:port]) every SQL connection URL is pointed at."""

    hosts: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    # path prefixes: where each host keeps its files under a root (the lab), paths in
    # values move with them: /srv/lab/old -> /srv/lab/new
    paths: dict[str, str] = field(default_factory=dict)
    bus: BusMove | None = None

    @classmethod
    def parse(cls, pairs: Sequence[str], database: str | None = None) -> HostMap:
        """From `old=new` strings. Raises InputError on a malformed pair."""
        from sidebyside.errors import InputError

        hosts: dict[str, str] = {}
        for pair in pairs:
            old, sep, new = pair.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise InputError(f"--host-map {pair!r}: expected old=new")
            hosts[old.strip()] = new.strip()
        return cls(hosts, database)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.database or self.paths or self.bus)

    def host_patterns(self) -> list[tuple[str, str, re.Pattern[str]]]:
        """(old, new, pattern) per host, longest first: a whole name or address only."""
        return [(old, new, re.compile(rf"(?<![\w.-]){re.escape(old)}(?![\w-]|\.[\w-])"))
                for old, new in sorted(self.hosts.items(), key=lambda kv: len(kv[0]),
                                       reverse=True)]

    def path_patterns(self) -> list[tuple[str, str, re.Pattern[str]]]:
        """(old, new, pattern) per root prefix that moves, longest first."""
        return [
            (old, new, re.compile(rf"(?<![\w.-]){re.escape(old.rstrip('/'))}(?=/|$|[,:;\s])"))
            for old, new in sorted(self.paths.items(), key=lambda kv: len(kv[0]),
                                   reverse=True)
            if old.rstrip("/") and old.rstrip("/") != new.rstrip("/")]


@dataclass
class SettingReport:
    file: str
    section: str
    key: str
    value: str  # masked
    custom: bool  # differs from the old release's default (or no metadata to tell)
    outcome: str = KEPT
    new_section: str | None = None
    new_key: str | None = None
    new_value: str | None = None  # masked
    reasons: list[str] = field(default_factory=list)
    default: str | None = None  # the old release's default, as the generator shows it

    @property
    def ref(self) -> str:
        return f"[{self.section}] {self.key}"

    @property
    def new_ref(self) -> str | None:
        return None if self.new_section is None else f"[{self.new_section}] {self.new_key}"


class TranslatedDocument(Protocol):
    """What a translated file is written from (an oslo Document, a Django settings
    file: sidebyside.config.django_settings)."""

    def to_bytes(self) -> bytes: ...


@dataclass
class FileTranslation:
    path: str
    old_text: str
    new_text: str
    diff: str  # unified, masked
    settings: list[SettingReport]
    document: TranslatedDocument

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for setting in self.settings:
            counts[setting.outcome] = counts.get(setting.outcome, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "changed": self.changed, "summary": self.summary(),
                "settings": [asdict(s) for s in self.settings], "diff": self.diff}


@dataclass
class TranslationReport:
    service: str
    from_release: str
    to_release: str
    files: list[FileTranslation]
    metadata_used: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "from_release": self.from_release,
                "to_release": self.to_release, "metadata": self.metadata_used,
                "files": [f.to_dict() for f in self.files]}

    def to_text(self, *, all_settings: bool = False) -> str:
        """What an operator reads: every custom or changed setting and where it went,
        then the diffs. Masked."""
        lines = [f"{self.service}: {self.from_release} -> {self.to_release}"]
        for translated in self.files:
            lines.append(f"\n== {translated.path} ({_counts(translated.summary())})")
            for s in translated.settings:
                if not (all_settings or s.custom or s.outcome != KEPT):
                    continue
                where = s.outcome
                if s.new_ref and s.new_ref != s.ref:
                    where += f" -> {s.new_ref}"
                if s.new_value is not None and s.new_value != s.value:
                    where += f" = {s.new_value}"
                tag = "custom" if s.custom else "default"
                # values are masked already (Masker.display); reasons get redact()
                line = f"  {s.ref} = {s.value}  [{tag}]  {where}"
                if s.reasons:
                    line += "\n      " + "\n      ".join(redact(r) for r in s.reasons)
                lines.append(line)
            if translated.diff:  # masked already
                lines.append("")
                lines.append(translated.diff.rstrip("\n"))
        return "\n".join(lines) + "\n"


def _counts(summary: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(summary.items())) or "no settings"


@dataclass(eq=False)
class _Track:
    entry: Entry
    report: SettingReport
    original_value: str = ""
    removed: bool = False
    option: OptionMeta | None = None  # the new release's option it now is


def _is_url_like(value: str) -> bool:
    return "://" in value


class Masker:
    """Decides which values are secret and how they may be shown."""

    def __init__(self, *metadata: ReleaseMetadata | None) -> None:
        self.metadata = [m for m in metadata if m is not None]

    def is_secret(self, section: str, key: str) -> bool:
        """Secret in either release's metadata; for options no metadata knows, a
        secret auth plugin option or a name shaped like a secret (*password*,
        *_secret, token, *_key ...)."""
        known = False
        for metadata in self.metadata:
            found = metadata.lookup(section, key)
            if found is not None:
                known = True
                if found.option.secret:
                    return True
        if known:
            return False
        if normalize_key(key) in SECRET_AUTH_PLUGIN_OPTIONS:
            return True
        return bool(_SECRET_KEY_SHAPE.search(key))

    def register(self, document: Document) -> None:
        """register_secret() every secret value of a document just loaded."""
        for section, entry in document.iter_entries():
            if section.name is None:
                continue
            if self.is_secret(section.name, entry.key) and not _is_url_like(entry.value):
                register_secret(entry.value)
            for match in _URL_CREDENTIALS.finditer(entry.value):
                register_secret(match.group("password"))

    def display(self, section: str, key: str, value: str) -> str:
        """A value as it may be shown: secrets masked (URL passwords only, so that
        host rewrites stay visible)."""
        if self.is_secret(section, key):
            if _is_url_like(value):
                return _mask_url_passwords(value)
            return MASK if value else value
        return redact(value)


class _Translator:
    def __init__(self, document: Document, *, path: str, service: str,
                 new: ReleaseMetadata, old: ReleaseMetadata | None,
                 rules: Sequence[Rule], host_map: HostMap | None,
                 drop_deprecated: bool = False,
                 via: Sequence[ReleaseMetadata] = ()) -> None:
        self.doc = document
        # old release first, then the releases between: names move forward in time
        self.history = [m for m in (old, *via) if m is not None]
        self.drop_deprecated = drop_deprecated
        self.path = path
        self.service = service
        self.new = new
        self.old = old
        self.rules = rules
        self.host_map = host_map or HostMap()
        self.masker = Masker(new, old)
        self.tracks: list[_Track] = []
        self.run_time_groups = {normalize_section(g) for g in dynamic_groups(document)}

    # ---- secrets -------------------------------------------------------------
    def is_secret(self, section: str, key: str) -> bool:
        return self.masker.is_secret(section, key)

    def display(self, section: str, key: str, value: str) -> str:
        return self.masker.display(section, key, value)

    def register_secrets(self) -> None:
        self.masker.register(self.doc)

    # ---- helpers -------------------------------------------------------------
    def live(self) -> list[_Track]:
        return [t for t in self.tracks if not t.removed]

    def section_of(self, track: _Track) -> str:
        name = self.doc.section_of(track.entry).name
        assert name is not None
        return name

    def old_option(self, section: str, key: str) -> OptionMeta | None:
        if self.old is None:
            return None
        found = self.old.lookup(section, key)
        return found.option if found else None

    def remove(self, track: _Track, reason: str) -> None:
        section = self.section_of(track)
        secret = self.is_secret(section, track.entry.key)
        self.doc.remove(track.entry, reason=reason, keep_value=not secret)
        track.removed = True
        track.report.outcome = REMOVED
        track.report.reasons.append(reason)
        track.report.new_section = track.report.new_key = track.report.new_value = None

    def rename(self, track: _Track, section: str, key: str, reason: str) -> None:
        self.doc.move(track.entry, section, key)
        track.report.reasons.append(reason)

    def set_value(self, track: _Track, value: str, reason: str) -> None:
        if value == track.entry.value:
            return
        self.doc.set_value(track.entry, value)
        track.report.reasons.append(reason)

    def is_set(self, section: str, key: str, *, exclude: Entry | None = None) -> bool:
        """True when the document sets (section, key) or a name the new release reads
        as that option, other than `exclude`."""
        target = self.new.lookup(section, key)
        for track in self.live():
            if track.entry is exclude:
                continue
            here = self.section_of(track)
            if normalize_section(here) == normalize_section(section) and \
                    normalize_key(track.entry.key) == normalize_key(key):
                return True
            if target is not None:
                other = self.new.lookup(here, track.entry.key)
                if other is not None and other.option is target.option:
                    return True
        return False

    # ---- passes --------------------------------------------------------------
    def start(self) -> None:
        self.register_secrets()
        for section, entry in self.doc.iter_entries():
            if section.name is None:
                continue
            option = self.old_option(section.name, entry.key)
            current = self.new.lookup(section.name, entry.key)
            reference = option or (current.option if current else None)
            if reference is None:
                custom = True
            elif reference.multi:
                custom = not equals_default(reference, self.doc.get(section.name, entry.key))
            else:
                custom = not equals_default(reference, [entry.value])
            default = None
            if reference is not None and reference.default is not None:
                default = self.display(section.name, entry.key, _default_text(reference))
            report = SettingReport(
                file=self.path, section=section.name, key=entry.key,
                value=self.display(section.name, entry.key, entry.value),
                custom=custom, default=default)
            self.tracks.append(_Track(entry, report, original_value=entry.value))

    def resolve_names(self) -> None:
        """Deprecated names/groups -> current ones. When several names of one option
        are set, the one oslo.config reads wins (the current name, else the first of
        the option's deprecated names) and the others are removed, saying why."""
        by_option: dict[int, list[tuple[_Track, Lookup, str]]] = {}
        options: dict[int, OptionMeta] = {}
        for track in self.live():
            section = self.section_of(track)
            key = track.entry.key
            found: Lookup | None = self.new.lookup(section, key)
            via = "the new release's metadata"
            if found is None:
                found, via = self._resolve_through_history(section, key)
            if found is None:
                continue
            track.option = found.option
            by_option.setdefault(id(found.option), []).append((track, found, via))
            options[id(found.option)] = found.option
        for option_id, named in by_option.items():
            target = options[option_id]
            aliases = [(t, f, v) for t, f, v in named if f.via_deprecated_name]
            if not aliases:
                continue
            current = [t for t, f, _ in named if not f.via_deprecated_name]
            winner = None
            if not current:
                order = [(normalize_section(g), normalize_key(n))
                         for g, n in target.deprecated_names]
                ranked = []
                for track, _, _ in aliases:
                    here = (normalize_section(self.section_of(track)),
                            normalize_key(track.entry.key))
                    ranked.append((order.index(here) if here in order else len(order),
                                   track))
                winner = min(ranked, key=lambda item: item[0])[1]
            for track, _, via in aliases:
                if track is winner:
                    since = f" since {target.deprecated_since}" \
                        if target.deprecated_since else ""
                    self.rename(track, target.group, target.name,
                                f"deprecated name{since}; current name {target.ref} "
                                f"(from {via})")
                elif current:
                    self.remove(track, f"deprecated name of {target.ref}, which is set "
                                       "too (oslo.config reads the current name first)")
                else:
                    assert winner is not None
                    self.remove(track, f"another name of {target.ref}, "
                                       f"{winner.report.key}, is set too and takes "
                                       "precedence in oslo.config")

    def _resolve_through_history(self, section: str, key: str) -> tuple[Lookup | None, str]:
        """An alias the new release no longer lists: carry the name forward through
        the old release's and the intermediate releases' metadata (oldest first),
        each resolving it to its option there, then look that up in the new release."""
        name = (section, key)
        renamed_in: list[str] = []
        for metadata in self.history:
            found = metadata.lookup(*name)
            if found is None:
                continue
            current = (found.option.group, found.option.name)
            if (normalize_section(current[0]), normalize_key(current[1])) != \
                    (normalize_section(name[0]), normalize_key(name[1])):
                renamed_in.append(metadata.release)
            name = current
        if not renamed_in:
            return None, ""
        final = self.new.lookup(*name)
        if final is None:
            return None, ""
        return (Lookup(final.option, via_deprecated_name=True),
                f"the {', '.join(renamed_in)} metadata")

    def apply_rules(self) -> None:
        for rule in self.rules:
            if rule.kind == "compose_url":
                self._compose_url(rule)
                continue
            if rule.kind == "ensure":
                self._ensure(rule)
                continue
            for track in self.live():
                section = self.section_of(track)
                if not rule.matches(section, track.entry.key):
                    continue
                why = f"{rule.reason} (rule {rule.id}, {rule.source})"
                if rule.kind == "remove":
                    self.remove(track, why)
                elif rule.kind == "map_value":
                    mapped = rule.values.get(track.entry.value.strip().lower())
                    if mapped is not None:
                        self.set_value(track, mapped, why)
                elif rule.kind == "regex_value":
                    assert rule.pattern is not None
                    value = re.sub(rule.pattern, rule.replace or "", track.entry.value)
                    self.set_value(track, value, why)
                elif rule.kind == "rename":
                    to_section = rule.to_section or section
                    to_key = rule.to_option or track.entry.key
                    if self.is_set(to_section, to_key, exclude=track.entry):
                        self.remove(track, f"[{to_section}] {to_key} is set too; {why}")
                    else:
                        self.rename(track, to_section, to_key, why)
                        found = self.new.lookup(to_section, to_key)
                        track.option = found.option if found else None

    def _compose_url(self, rule: Rule) -> None:
        by_section: dict[str, dict[str, _Track]] = {}
        for track in self.live():
            section = self.section_of(track)
            if rule.matches(section, track.entry.key):
                by_section.setdefault(section, {})[normalize_key(track.entry.key)] = track
        for section, found in by_section.items():
            values = {name: found[normalize_key(part.option)].entry.value
                      if normalize_key(part.option) in found else part.default
                      for name, part in rule.parts.items()}
            url = (rule.template or "").format(**values)
            target_key = None
            for target in rule.targets:
                option = str(target["option"])
                if target.get("only_if_known") and self.new.option(section, option) is None:
                    continue
                blockers = target.get("unless_set") or [option]
                if any(self.is_set(section, str(b)) for b in blockers):
                    continue
                target_key = option
                break
            why = f"{rule.reason} (rule {rule.id}, {rule.source})"
            if target_key is not None:
                entry = self.doc.add(section, target_key, url)
                report = SettingReport(
                    file=self.path, section=section, key=target_key, value="",
                    custom=True, outcome=ADDED, new_section=section, new_key=target_key,
                    new_value=self.display(section, target_key, url),
                    reasons=[f"composed from {', '.join(sorted(found))}: {why}"])
                added = _Track(entry, report)
                found_option = self.new.lookup(section, target_key)
                added.option = found_option.option if found_option else None
                self.tracks.append(added)
                note = f"composed into [{section}] {target_key} = {url}: {why}"
            else:
                note = f"not composed: the target URL option is set already: {why}"
            for track in found.values():
                self.remove(track, note)

    def _ensure(self, rule: Rule) -> None:
        """The rule's option added with its value when the file does not set it (a file
        that sets it, to anything, keeps its own)."""
        section, option = rule.section, rule.options[0]
        if self.is_set(section, option):
            return
        assert rule.value is not None  # parse_rules checked
        entry = self.doc.add(section, option, rule.value)
        report = SettingReport(
            file=self.path, section=section, key=option, value="", custom=True,
            outcome=ADDED, new_section=section, new_key=option,
            new_value=self.display(section, option, rule.value),
            reasons=[f"{rule.reason} (rule {rule.id}, {rule.source})"])
        added = _Track(entry, report)
        found = self.new.lookup(section, option)
        added.option = found.option if found else None
        self.tracks.append(added)

    def apply_removals(self) -> None:
        for track in self.live():
            if track.report.outcome == ADDED:
                continue
            section = self.section_of(track)
            key = track.entry.key
            found = self.new.lookup(section, key)
            if found is not None:
                track.option = found.option
                if found.option.deprecated_for_removal:
                    self._deprecated_for_removal(track, section, found.option)
                continue
            known_in = [(m, f) for m in self.history if (f := m.lookup(section, key))]
            if known_in:
                metadata, old = known_in[-1]
                reason = f"not an option of {self.service} {self.new.release} any more"
                if old.option.deprecated_reason:
                    reason += f" ({metadata.release} said: {old.option.deprecated_reason})"
                self.remove(track, reason)
                continue
            track.report.outcome = UNKNOWN
            if normalize_key(key) in AUTH_PLUGIN_OPTIONS and (
                    self.new.option(section, "auth_type") is not None
                    or self.new.option(section, "auth_section") is not None):
                track.report.outcome = KEPT
                track.report.reasons.append(
                    "auth plugin option (loaded by the plugin named in auth_type; "
                    "not in the generator's metadata)")
            elif normalize_section(section) in self.run_time_groups:
                track.report.outcome = KEPT
                track.report.reasons.append(
                    f"group [{section}] is created at run time (enabled_backends, or a "
                    "glance reserved store): no metadata lists it")
            elif not self.new.knows_group(section):
                track.report.reasons.append(
                    f"group [{section}] is not in the {self.new.release} metadata "
                    "(a dynamic group, or another namespace): kept, check it")
            else:
                track.report.reasons.append(
                    f"not an option of {self.service} {self.new.release}"
                    + "".join(f" nor {m.release}" for m in self.history)
                    + ": kept, check it")

    def _deprecated_for_removal(self, track: _Track, section: str,
                                option: OptionMeta) -> None:
        reason = option.deprecated_reason or "no reason given"
        since = f" since {option.deprecated_since}" if option.deprecated_since else ""
        what = f"deprecated for removal{since} in {self.service} {self.new.release}: {reason}"
        values = (self.doc.get(section, track.entry.key) if option.multi
                  else [track.entry.value])
        if self.drop_deprecated or equals_default(option, values):
            self.remove(track, what)
            return
        # The option still works in the new release; dropping it would silently
        # change behaviour (e.g. [oslo_policy] enforce_scope, whose default flipped).
        track.report.reasons.append(
            f"{what}; kept: removing it would change the value in effect (the "
            f"{self.new.release} default is {_default_text(option)})")

    def rewrite_hosts(self) -> None:
        if not self.host_map:
            return
        patterns = self.host_map.host_patterns()
        path_patterns = self.host_map.path_patterns()
        for track in self.live():
            section = self.section_of(track)
            value = track.entry.value
            reasons = []
            sql = _SQL_URL.match(value.strip())
            bus = self.host_map.bus
            on_new_bus = bus.apply(value) if bus else None
            if bus and on_new_bus is not None and on_new_bus != value:
                value = on_new_bus
                reasons.append(f"the new side's bus: vhost {bus.old_vhost!r} -> "
                               f"{bus.new_vhost!r}")
            if sql and self.host_map.database:
                if sql.group("netloc") != self.host_map.database:
                    value = (sql.group("scheme") + (sql.group("creds") or "")
                             + self.host_map.database + sql.group("rest"))
                    reasons.append(f"database server {sql.group('netloc')} -> "
                                   f"{self.host_map.database}")
            elif not (self.is_secret(section, track.entry.key) and not _is_url_like(value)):
                for old, new, pattern in patterns:
                    rewritten = _sub_outside_credentials(pattern, new, value)
                    if rewritten != value:
                        reasons.append(f"host map {old} -> {new}")
                        value = rewritten
            if not (self.is_secret(section, track.entry.key) and not _is_url_like(value)):
                for old, new, pattern in path_patterns:
                    rewritten = pattern.sub(new, value)
                    if rewritten != value:
                        reasons.append(f"root {old} -> {new}")
                        value = rewritten
            if reasons:
                self.set_value(track, value, "; ".join(reasons))

    def finish(self) -> None:
        for track in self.tracks:
            report = track.report
            if track.removed:
                continue
            section = self.section_of(track)
            report.new_section, report.new_key = section, track.entry.key
            report.new_value = self.display(section, track.entry.key, track.entry.value)
            if report.outcome in (ADDED, UNKNOWN):
                continue
            moved = (normalize_section(section), normalize_key(track.entry.key)) != \
                (normalize_section(report.section), normalize_key(report.key))
            changed = track.entry.value != track.original_value
            if moved and changed:
                report.outcome = RENAMED_AND_REWRITTEN
            elif moved:
                report.outcome = RENAMED
            elif changed:
                report.outcome = REWRITTEN


def _sub_outside_credentials(pattern: re.Pattern[str], new: str, value: str) -> str:
    """Replace host names but never inside a URL's user:password@ part."""
    pieces = re.split(r"((?:://|,)[^:/@\s,]*:[^@\s,]+@)", value)
    return "".join(piece if index % 2 else pattern.sub(new, piece)
                   for index, piece in enumerate(pieces))


def _mask_url_passwords(value: str) -> str:
    return re.sub(r"((?:://|,)[^:/@\s,]*:)([^@\s,]+)(@)", rf"\g<1>{MASK}\g<3>", value)


def _default_text(option: OptionMeta) -> str:
    default = option.default
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, list):
        return ",".join(str(v) for v in default)
    return str(default)


def translate_document(document: Document, *, path: str, service: str,
                       new: ReleaseMetadata, old: ReleaseMetadata | None = None,
                       rules: Sequence[Rule] = (),
                       host_map: HostMap | None = None,
                       drop_deprecated: bool = False,
                       via: Sequence[ReleaseMetadata] = ()) -> FileTranslation:
    """Translate one oslo.config document in place and report on every setting.

    An option deprecated for removal in the new release is removed when its value is
    the new default anyway, kept with a warning otherwise (it still works, and
    removing it would change behaviour); drop_deprecated removes it regardless.
    `via`: metadata of the releases between old and new (oldest first), so that a
    name renamed in one of them and dropped later still finds its option.
    Raises nothing for odd content: unknown options are kept and reported.
    """
    old_text = document.render()
    translator = _Translator(document, path=path, service=service, new=new, old=old,
                             rules=rules, host_map=host_map,
                             drop_deprecated=drop_deprecated, via=via)
    translator.start()
    old_shown = document.render(display=translator.display, trivia=redact)
    translator.resolve_names()
    translator.apply_rules()
    translator.apply_removals()
    translator.rewrite_hosts()
    translator.finish()
    new_shown = document.render(display=translator.display, trivia=redact)
    # Masked value by value (display) and comment by comment, not line by line:
    # redact's patterns would take `max_active_keys = 5` for a secret, and a `-p...`
    # diff line for `mysql -pSECRET`.
    diff = "".join(difflib.unified_diff(
        old_shown.splitlines(keepends=True), new_shown.splitlines(keepends=True),
        fromfile=f"{path} ({old.release if old else 'old'})",
        tofile=f"{path} ({new.release})"))
    return FileTranslation(path=path, old_text=old_text, new_text=document.render(),
                           diff=diff, settings=[t.report for t in translator.tracks],
                           document=document)


def translate_files(files: dict[str, bytes], *, service: str, from_release: str,
                    new: ReleaseMetadata, old: ReleaseMetadata | None = None,
                    rules: Sequence[Rule] = (),
                    host_map: HostMap | None = None,
                    drop_deprecated: bool = False,
                    via: Sequence[ReleaseMetadata] = ()) -> TranslationReport:
    """Translate several files of one service (main file, drop-ins, plugin inis).

    A `*.py` file is a Django settings file (horizon's local_settings.py), rewritten
    by sidebyside.config.django_settings with the service's settings rules.
    Raises InputError when a file is not valid oslo.config INI or Python (file and
    line named).
    """
    translated = []
    for path, data in files.items():
        if path.endswith(".py"):
            from sidebyside.config import django_settings  # it imports this module

            translated.append(django_settings.translate_settings(
                data, path=path, service=service, from_release=from_release,
                to_release=new.release, rules=django_settings.load_settings_rules(
                    service, from_release, new.release), host_map=host_map))
            continue
        document = Document.parse(data, path=path, strict=True)
        translated.append(translate_document(document, path=path, service=service,
                                             new=new, old=old, rules=rules,
                                             host_map=host_map,
                                             drop_deprecated=drop_deprecated, via=via))
    return TranslationReport(service=service, from_release=from_release,
                             to_release=new.release, files=translated)
