"""Translate a Django settings file (horizon's local_settings.py, local_settings.d/*.py)
from one release to another, and say what happened to every setting.

Pure and never executing the file: `ast` finds the settings (top-level assignments
`NAME = ...`, also inside `if`/`try`/`with` blocks; `NAME.update(...)`, `NAME['k'] = ...`
and `NAME += ...` are uses of a setting), and the file is rewritten by exact byte
spans, so every comment, blank line and formatting stays byte for byte except the
settings a rule edits:

  rename  the setting's name (and every reference to it) becomes the new one, with a
          comment line saying so and why
  remove  the assignment (and the statements that use it) are commented out whole,
          with a comment line giving the reason
  review  the setting is kept as is and flagged for an operator in the report (its
          value's type or meaning changed)

and, as in oslo files, the host map moves what names the old controller to the new one:
inside string literals only (ALLOWED_HOSTS' address, STATIC_ROOT under the old host's
root), never in a secret setting's value, each literal edited where it stands.

Rules are data: sidebyside/config/rules/<service>/<from>_<to>.yaml, one file per
release transition like the oslo rules (sidebyside/config/rules.py), each rule citing
the release note (or commit) it comes from.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources

import yaml

from sidebyside.config.rules import rule_files
from sidebyside.config.translate import (
    KEPT,
    REMOVED,
    RENAMED,
    FileTranslation,
    HostMap,
    SettingReport,
    TranslationReport,
)
from sidebyside.errors import InputError
from sidebyside.redact import MASK, redact, register_secret

KINDS = ("rename", "remove", "review")
REVIEW = "kept, review"
# Django settings whose value is a secret, and dict keys inside a setting that are
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|_KEY$|CREDENTIAL)", re.IGNORECASE)
_SHOWN_VALUE = 160  # characters of a value the report shows


@dataclass(frozen=True)
class SettingRule:
    id: str
    kind: str  # rename | remove | review
    setting: str
    reason: str
    note: str  # the release note (or commit) the rule comes from
    source: str  # the rules file
    to: str | None = None  # rename: the new name
    value_contains: str | None = None  # applies only when the value's source has this

    def why(self) -> str:
        return f"{self.reason} ({self.note}; rule {self.id}, {self.source})"


def parse_settings_rules(text: str, source: str) -> list[SettingRule]:
    """Parse one rules file. Raises InputError naming the file and rule."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not YAML: {exc}") from None
    rules: list[SettingRule] = []
    for index, raw in enumerate(data.get("rules") or []):
        where = f"{source}: rules[{index}]"
        try:
            kind = str(raw["kind"])
            if kind not in KINDS:
                raise InputError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
            if kind == "rename" and not raw.get("to"):
                raise InputError(f"{where}: a rename needs `to`")
            rules.append(SettingRule(
                id=str(raw["id"]), kind=kind, setting=str(raw["setting"]),
                reason=" ".join(str(raw["reason"]).split()), note=str(raw["note"]),
                source=source, to=raw.get("to"), value_contains=raw.get("value_contains")))
        except (KeyError, TypeError) as exc:
            raise InputError(f"{where}: missing or malformed field {exc}") from None
    return rules


def load_settings_rules(service: str, from_release: str, to_release: str
                        ) -> list[SettingRule]:
    """Every settings rule of service from -> to, by release. Raises InputError."""
    folder = resources.files("sidebyside.config").joinpath("rules")
    rules: list[SettingRule] = []
    for name in rule_files(from_release, to_release, folder=service):
        rules += parse_settings_rules(folder.joinpath(name).read_text(), f"rules/{name}")
    return rules


# ---- the report -----------------------------------------------------------------

@dataclass
class DjangoSettingReport(SettingReport):
    """One assignment of a setting (a setting assigned twice has two)."""

    line: int = 0
    uses: list[int] = field(default_factory=list)  # lines of NAME.update(...) etc.
    value_after: str | None = None  # set when the host map edited a literal of it

    @property
    def ref(self) -> str:
        return f"{self.key} (line {self.line})"

    @property
    def new_ref(self) -> str | None:
        return None if self.new_key is None else f"{self.new_key} (line {self.line})"


# ---- the file -------------------------------------------------------------------

@dataclass
class _Assignment:
    name: str
    statement: ast.stmt
    body: list[ast.stmt]  # the block it stands in
    value: ast.expr | None


@dataclass
class _Use:
    name: str
    statement: ast.stmt
    body: list[ast.stmt]


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: bytes


class SettingsFile:
    """A parsed settings file and the byte edits made to it."""

    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.path = data, path
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise InputError(f"{path}:{line}: not UTF-8") from None
        try:
            self.module = ast.parse(source, filename=path)
        except SyntaxError as exc:
            raise InputError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from None
        self.line_starts = [0]
        for index, byte in enumerate(data):
            if byte == 0x0A:
                self.line_starts.append(index + 1)
        self.edits: list[_Edit] = []
        self.assignments: list[_Assignment] = []
        self.uses: list[_Use] = []
        self.commented: list[ast.stmt] = []
        self._collect(self.module.body)

    def to_bytes(self) -> bytes:
        out, position = [], 0
        for edit in sorted(self.edits, key=lambda e: (e.start, e.end)):
            out += [self.data[position:edit.start], edit.text]
            position = edit.end
        out.append(self.data[position:])
        return b"".join(out)

    # ---- reading ----------------------------------------------------------------
    def _collect(self, body: list[ast.stmt]) -> None:
        for statement in body:
            if isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = (statement.targets if isinstance(statement, ast.Assign)
                           else [statement.target])
                for target in targets:
                    for name in _assigned_names(target):
                        self.assignments.append(
                            _Assignment(name, statement, body, statement.value))
                    used = _used_name(target)
                    if used is not None:
                        self.uses.append(_Use(used, statement, body))
            elif isinstance(statement, ast.AugAssign):
                used = _used_name(statement.target) or (
                    statement.target.id if isinstance(statement.target, ast.Name) else None)
                if used is not None:
                    self.uses.append(_Use(used, statement, body))
            elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                used = _used_name(statement.value.func)
                if used is not None:
                    self.uses.append(_Use(used, statement, body))
            for child in _blocks(statement):
                self._collect(child)

    def offset(self, line: int, column: int) -> int:
        return self.line_starts[line - 1] + column  # ast columns count UTF-8 bytes

    def source_of(self, node: ast.AST) -> str:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return self.data[start:end].decode("utf-8")

    def lines_of(self, statement: ast.stmt) -> tuple[int, int]:
        """Byte span of the whole lines a statement stands on."""
        start = self.line_starts[statement.lineno - 1]
        end_line = statement.end_lineno or statement.lineno
        end = (self.line_starts[end_line] if end_line < len(self.line_starts)
               else len(self.data))
        return start, end

    def shares_a_line(self, statement: ast.stmt, body: list[ast.stmt]) -> bool:
        first, last = statement.lineno, statement.end_lineno or statement.lineno
        return any(other is not statement
                   and (other.end_lineno or other.lineno) >= first and other.lineno <= last
                   for other in body)

    def indent_of(self, statement: ast.stmt) -> bytes:
        start = self.line_starts[statement.lineno - 1]
        return self.data[start:self.offset(statement.lineno, statement.col_offset)]

    # ---- editing ----------------------------------------------------------------
    def comment_out(self, statement: ast.stmt, body: list[ast.stmt], note: str) -> None:
        """Comment a statement out whole, its lines prefixed with `# `, after a note."""
        start, end = self.lines_of(statement)
        indent = self.indent_of(statement)
        lines = self.data[start:end].splitlines(keepends=True)
        newline = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
        text = indent + b"# " + note.encode() + newline
        for line in lines:
            here = line[len(indent):] if line.startswith(indent) else line.lstrip(b" \t")
            text += indent + b"# " + here if here.strip() else line
        if not text.endswith(b"\n"):
            text += newline
        if all(s is statement or self.is_commented(s) for s in body):
            text += indent + b"pass" + newline  # the block must keep a statement
        self.commented.append(statement)
        self.edits.append(_Edit(start, end, text))

    def is_commented(self, statement: ast.stmt) -> bool:
        return any(s is statement for s in self.commented)

    def rename(self, old: str, new: str) -> None:
        """Every reference to `old` becomes `new` (exact name spans)."""
        for node in ast.walk(self.module):
            if isinstance(node, ast.Name) and node.id == old:
                start = self.offset(node.lineno, node.col_offset)
                self.edits.append(_Edit(start, start + len(old.encode()), new.encode()))

    def note_before(self, statement: ast.stmt, note: str) -> None:
        start = self.line_starts[statement.lineno - 1]
        line_end = self.data.find(b"\n", start)
        newline = b"\r\n" if line_end > 0 and self.data[line_end - 1:line_end] == b"\r" \
            else b"\n"
        self.edits.append(_Edit(start, start,
                                self.indent_of(statement) + b"# " + note.encode() + newline))


def _blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The bodies of a compound statement whose assignments still set module names
    (not functions' or classes')."""
    if isinstance(statement, ast.If | ast.For | ast.While | ast.With):
        yield statement.body
        if not isinstance(statement, ast.With) and statement.orelse:
            yield statement.orelse
    elif isinstance(statement, ast.Try):
        yield statement.body
        for handler in statement.handlers:
            yield handler.body
        for block in (statement.orelse, statement.finalbody):
            if block:
                yield block


def _assigned_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _assigned_names(element)


def _used_name(node: ast.expr) -> str | None:
    """NAME of NAME['k'], NAME.attr, NAME['a']['b'].update: the setting used."""
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
        if isinstance(node, ast.Name):
            return node.id
    return None


def is_secret_setting(name: str) -> bool:
    """SECRET_KEY, *PASSWORD*, *TOKEN*: settings whose value is never shown."""
    return bool(_SECRET_NAME.search(name))


def _register_secrets(settings: SettingsFile) -> None:
    """register_secret() the literal strings of secret settings and of secret-named
    keys inside dict values (DATABASES' PASSWORD), so that redact masks them anywhere."""
    for assignment in settings.assignments:
        if assignment.value is None:
            continue
        if is_secret_setting(assignment.name):
            for node in ast.walk(assignment.value):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    register_secret(node.value)
    for node in ast.walk(settings.module):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and isinstance(key.value, str)
                        and is_secret_setting(key.value) and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)):
                    register_secret(value.value)


def _shown(settings: SettingsFile, name: str, value: ast.expr | None) -> str:
    if value is None:
        return ""
    if is_secret_setting(name):
        return MASK
    text = " ".join(settings.source_of(value).split())
    if len(text) > _SHOWN_VALUE:
        text = text[:_SHOWN_VALUE - 3] + "..."
    return redact(text)


def _map_hosts(settings: SettingsFile, host_map: HostMap,
               reports: Sequence[DjangoSettingReport]) -> None:
    """The host map applied to every string literal of a live (not commented out)
    assignment of a setting that is not a secret; the reason in its report."""
    patterns = [(f"host map {old} -> {new}", new, pattern)
                for old, new, pattern in host_map.host_patterns()]
    patterns += [(f"root {old} -> {new}", new, pattern)
                 for old, new, pattern in host_map.path_patterns()]
    if not patterns:
        return
    def moved(text: str) -> str:
        for _, new, pattern in patterns:
            text = pattern.sub(new, text)
        return text

    for assignment, report in zip(settings.assignments, reports, strict=True):
        if assignment.value is None or is_secret_setting(assignment.name) \
                or settings.is_commented(assignment.statement):
            continue
        for node in ast.walk(assignment.value):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            source = settings.source_of(node)
            for reason, _, pattern in patterns:
                if pattern.search(source) and reason not in report.reasons:
                    report.reasons.append(reason)
            rewritten = moved(source)
            if rewritten != source:
                start = settings.offset(node.lineno, node.col_offset)
                end = settings.offset(node.end_lineno or node.lineno,
                                      node.end_col_offset or 0)
                settings.edits.append(_Edit(start, end, rewritten.encode()))
                report.value_after = moved(report.value)


def translate_settings(data: bytes, *, path: str, service: str, from_release: str,
                       to_release: str, rules: Sequence[SettingRule],
                       host_map: HostMap | None = None) -> FileTranslation:
    """Translate one Django settings file by the rules and the host map; report every
    assignment.

    Raises InputError naming the file and line when it is not valid Python (UTF-8).
    """
    settings = SettingsFile(data, path)
    _register_secrets(settings)
    reports: list[DjangoSettingReport] = []
    last_line: dict[str, int] = {}
    for assignment in settings.assignments:
        last_line[assignment.name] = assignment.statement.lineno
    for assignment in settings.assignments:
        report = DjangoSettingReport(
            file=path, section="", key=assignment.name, custom=True,
            value=_shown(settings, assignment.name, assignment.value),
            line=assignment.statement.lineno,
            uses=[u.statement.lineno for u in settings.uses if u.name == assignment.name])
        if last_line[assignment.name] != report.line:
            report.reasons.append(f"assigned again on line {last_line[assignment.name]} "
                                  "(the later assignment wins where it runs)")
        reports.append(report)

    renamed: set[str] = set()
    for rule in rules:
        hits = [(a, r) for a, r in zip(settings.assignments, reports, strict=True)
                if a.name == rule.setting and r.outcome == KEPT
                and (rule.value_contains is None or (
                    a.value is not None and rule.value_contains in settings.source_of(a.value)))]
        if not hits:
            continue
        if rule.kind == "review":
            for _, report in hits:
                report.outcome = REVIEW
                report.reasons.append(f"review: {rule.why()}")
        elif rule.kind == "rename":
            assert rule.to is not None
            if rule.setting in renamed:
                continue
            if any(a.name == rule.to for a in settings.assignments):
                for _, report in hits:
                    report.outcome = REVIEW
                    report.reasons.append(f"not renamed: {rule.to} is set too; {rule.why()}")
                continue
            renamed.add(rule.setting)
            settings.rename(rule.setting, rule.to)
            for assignment, report in hits:
                settings.note_before(assignment.statement,
                                     f"sbs: renamed {rule.setting} -> {rule.to}: {rule.why()}")
                report.outcome, report.new_key = RENAMED, rule.to
                report.reasons.append(rule.why())
        elif rule.kind == "remove":
            _remove(settings, rule, hits)

    if host_map:
        _map_hosts(settings, host_map, reports)
    for report in reports:
        if report.outcome in (KEPT, RENAMED, REVIEW):
            report.new_section = ""
            report.new_key = report.new_key or report.key
            report.new_value = report.value_after or report.value
    new_data = settings.to_bytes()
    old_text, new_text = data.decode("utf-8"), new_data.decode("utf-8")
    diff = "".join(redact(line) for line in difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"{path} ({from_release})", tofile=f"{path} ({to_release})"))
    return FileTranslation(path=path, old_text=old_text, new_text=new_text, diff=diff,
                           settings=list(reports), document=_Rendered(new_data))


def _remove(settings: SettingsFile, rule: SettingRule,
            hits: list[tuple[_Assignment, DjangoSettingReport]]) -> None:
    removing = {id(a.statement) for a, _ in hits}
    everything = [a for a in settings.assignments if a.name == rule.setting]
    all_of_them = all(id(a.statement) in removing for a in everything)
    for assignment, report in hits:
        statement = assignment.statement
        others = [a for a in settings.assignments
                  if a.statement is statement and a.name != rule.setting]
        if others or settings.shares_a_line(statement, assignment.body):
            report.outcome = REVIEW
            report.reasons.append("not removed: the statement sets other names too or "
                                  f"shares its line; {rule.why()}")
            continue
        if not settings.is_commented(statement):
            settings.comment_out(statement, assignment.body,
                                 f"sbs: removed {rule.setting}: {rule.why()}")
        report.outcome = REMOVED
        report.reasons.append(rule.why())
    if not all_of_them:
        return
    # NAME.update(...) of a setting no longer assigned would fail: commented out too
    for use in settings.uses:
        if use.name == rule.setting and not settings.is_commented(use.statement) \
                and not settings.shares_a_line(use.statement, use.body):
            settings.comment_out(use.statement, use.body,
                                 f"sbs: removed a use of {rule.setting}: {rule.why()}")
    for _, report in hits:
        if report.outcome == REMOVED:
            report.new_section = report.new_key = report.new_value = None


@dataclass(frozen=True)
class _Rendered:
    data: bytes

    def to_bytes(self) -> bytes:
        return self.data


def translate_settings_files(files: dict[str, bytes], *, service: str, from_release: str,
                             to_release: str, rules: Sequence[SettingRule] | None = None,
                             host_map: HostMap | None = None) -> TranslationReport:
    """Translate several settings files of one service (local_settings.py and its
    local_settings.d/*.py). Raises InputError for a file that is not valid Python."""
    if rules is None:
        rules = load_settings_rules(service, from_release, to_release)
    translated = [translate_settings(data, path=path, service=service,
                                     from_release=from_release, to_release=to_release,
                                     rules=rules, host_map=host_map)
                  for path, data in files.items()]
    return TranslationReport(service=service, from_release=from_release,
                             to_release=to_release, files=translated)


def is_settings_path(path: str) -> bool:
    """The files of a settings directory Django/horizon reads: `*.py`."""
    return path.endswith(".py")


__all__ = ["REVIEW", "DjangoSettingReport", "SettingRule", "SettingsFile",
           "is_secret_setting", "is_settings_path", "load_settings_rules",
           "parse_settings_rules", "translate_settings",
           "translate_settings_files"]
