"""Lossless oslo.config INI documents: parse, edit, write back the same bytes.

The parse follows `oslo_config.iniparser` line for line, so what this module calls an
entry is exactly what the service will read:

* a line is right-stripped first; an empty result is blank and ends a multi-line value;
* a line starting with a space or tab continues the previous assignment (an indented
  `# ...` after a key is part of its value, as in oslo.config);
* `[name]` starts a section (sections with the same name merge, `[DEFAULT]` included);
* `#` or `;` at column 0 is a comment;
* otherwise `key = value` or `key: value` (the earlier of `=` and `:` splits), the value
  stripped and one pair of matching outer quotes removed; a key may repeat (multi-valued
  options collect every value, single-valued ones take the last).

Nothing is normalised on the way in: every line keeps its raw text (separators,
spacing, line ending, a missing final newline, undecodable bytes via surrogateescape),
so rendering an untouched document gives back the input bytes. Edits replace only the
lines of the entries they touch.

Lines are split where Python's text mode splits them (oslo.config opens files in text
mode): "\\n", "\\r\\n" and a lone "\\r".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sidebyside.errors import InputError

ENCODING = "utf-8"
SECTIONLESS = None  # the name of the block before the first section header


def normalize_section(name: str) -> str:
    """oslo.config compares group names case-insensitively, except DEFAULT."""
    return name if name == "DEFAULT" else name.lower()


def normalize_key(key: str) -> str:
    """Option names and their `dest` differ only by `-` vs `_`."""
    return key.replace("-", "_")


@dataclass
class Trivia:
    """A line that carries no setting: blank, comment, or one oslo.config would reject."""

    raw: str
    problem: str | None = None  # why oslo.config would refuse this line, if it would


@dataclass(eq=False)
class Entry:
    """One `key = value` assignment with its continuation lines.

    Identity matters: edits mutate the object, so callers can follow a setting through
    renames and moves.
    """

    key: str
    value: str
    raw_lines: list[str]
    # the block holding it, kept by Document's edits (a back-reference, not data)
    owner: Section | None = field(default=None, repr=False, compare=False)

    @property
    def raw(self) -> str:
        return "".join(self.raw_lines)

    @property
    def separator_style(self) -> tuple[str, str]:
        """(text between key and value, line ending) of the first line, for rewrites."""
        first = self.raw_lines[0]
        ending = _line_ending(first)
        body = first[: len(first) - len(ending)]
        match = re.match(r"^(?P<key>[^=:]*?)(?P<sep>\s*[=:]\s*)", body)
        return (match.group("sep") if match else " = ", ending or "\n")


Node = Trivia | Entry


@dataclass(eq=False)
class Section:
    """One header and the nodes under it (or the lines before the first header)."""

    name: str | None
    header: str | None  # raw header line, None for the sectionless preamble
    nodes: list[Node] = field(default_factory=list)

    @property
    def entries(self) -> list[Entry]:
        return [node for node in self.nodes if isinstance(node, Entry)]

    def matches(self, name: str) -> bool:
        return self.name is not None and normalize_section(self.name) == normalize_section(name)


def _line_ending(line: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if line.endswith(ending):
            return ending
    return ""


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split where Python's text mode (which oslo.config
    reads with) splits: \\n, \\r\\n and a lone \\r; nothing else."""
    return _LINE.findall(text)


def _split_key_value(line: str) -> tuple[str, str] | None:
    colon = line.find(":")
    equal = line.find("=")
    if colon < 0 and equal < 0:
        return None
    if colon < 0 or (0 <= equal < colon):
        key, value = line[:equal], line[equal + 1:]
    else:
        key, value = line[:colon], line[colon + 1:]
    value = value.strip()
    if value and value[0] == value[-1] and value.startswith(('"', "'")):
        value = value[1:-1]
    return key.strip(), value


class Document:
    """An oslo.config INI file as an editable, lossless list of sections."""

    def __init__(self, sections: list[Section], *, path: str | None = None) -> None:
        self.sections = sections
        self.path = path

    # ---- reading -------------------------------------------------------------
    @classmethod
    def parse(cls, data: str | bytes, *, path: str | None = None,
              strict: bool = False) -> Document:
        """Parse INI text. With strict, raises InputError (file and line) where
        oslo.config would raise ParseError; otherwise such lines are kept as Trivia
        with a `problem`."""
        text = data.decode(ENCODING, "surrogateescape") if isinstance(data, bytes) else data
        preamble = Section(SECTIONLESS, None)
        sections = [preamble]
        current = preamble
        open_entry: Entry | None = None
        for lineno, raw in enumerate(_split_lines(text), start=1):
            line = raw.rstrip()
            problem: str | None = None
            if not line:
                open_entry = None
                current.nodes.append(Trivia(raw))
                continue
            if line.startswith((" ", "\t")):
                if open_entry is not None:
                    open_entry.raw_lines.append(raw)
                    open_entry.value += "\n" + line.lstrip()
                    continue
                problem = "unexpected continuation line"
            open_entry = None
            if problem is None and line.startswith("["):
                if not line.endswith("]"):
                    problem = "invalid section (must end with ])"
                elif len(line) <= 2:
                    problem = "empty section name"
                else:
                    current = Section(line[1:-1], raw)
                    sections.append(current)
                    continue
            elif problem is None and line.startswith(("#", ";")):
                current.nodes.append(Trivia(raw))
                continue
            elif problem is None:
                split = _split_key_value(line)
                if split is None:
                    problem = "no ':' or '=' found in assignment"
                elif not split[0]:
                    problem = "key cannot be empty"
                elif current.name is None:
                    problem = "assignment before any section header"
                else:
                    open_entry = Entry(split[0], split[1], [raw], owner=current)
                    current.nodes.append(open_entry)
                    continue
            if strict:
                raise InputError(f"{path or '<config>'}:{lineno}: {problem}: {line!r}")
            current.nodes.append(Trivia(raw, problem))
        return cls(sections, path=path)

    @property
    def problems(self) -> list[tuple[str | None, str, str]]:
        """(section, problem, line) for every line oslo.config would refuse."""
        return [(s.name, n.problem, n.raw.rstrip()) for s in self.sections for n in s.nodes
                if isinstance(n, Trivia) and n.problem]

    def render(self, *, display: Callable[[str, str, str], str | None] | None = None,
               trivia: Callable[[str], str] | None = None) -> str:
        """The document's text. With display(section, key, value) -> replacement value
        (or None to keep the line) and trivia(line) -> line for comments, e.g. to mask
        secrets in what is shown."""
        parts: list[str] = []
        for section in self.sections:
            if section.header is not None:
                parts.append(section.header)
            for node in section.nodes:
                if isinstance(node, Trivia) and trivia is not None:
                    parts.append(trivia(node.raw))
                    continue
                if isinstance(node, Entry) and display and section.name is not None:
                    shown = display(section.name, node.key, node.value)
                    if shown is not None and shown != node.value:
                        sep, ending = node.separator_style
                        first = shown.replace("\n", " ")
                        parts.append(f"{node.key}{sep}{first}{ending}")
                        continue
                parts.append(node.raw)
        return "".join(parts)

    def to_bytes(self) -> bytes:
        return self.render().encode(ENCODING, "surrogateescape")

    @property
    def line_ending(self) -> str:
        """The file's own line ending, used for lines sbs adds."""
        for section in self.sections:
            raws = [section.header] if section.header else []
            raws += [n.raw_lines[0] if isinstance(n, Entry) else n.raw for n in section.nodes]
            for raw in raws:
                ending = _line_ending(raw)
                if ending:
                    return ending
        return "\n"

    def section_names(self) -> list[str]:
        """Section names in first-appearance order, once each."""
        seen: list[str] = []
        for section in self.sections:
            if section.name is not None and not any(
                    normalize_section(section.name) == normalize_section(s) for s in seen):
                seen.append(section.name)
        return seen

    def blocks(self, section: str) -> list[Section]:
        return [s for s in self.sections if s.matches(section)]

    def iter_entries(self) -> Iterator[tuple[Section, Entry]]:
        for section in self.sections:
            for entry in section.entries:
                yield section, entry

    def find(self, section: str, key: str) -> list[tuple[Section, Entry]]:
        wanted = normalize_key(key)
        return [(s, e) for s in self.blocks(section) for e in s.entries
                if normalize_key(e.key) == wanted]

    def get(self, section: str, key: str) -> list[str]:
        """Every value of key in section, in file order (the last one wins for a
        single-valued option; a multi-valued option takes them all)."""
        return [entry.value for _, entry in self.find(section, key)]

    def get_one(self, section: str, key: str) -> str | None:
        values = self.get(section, key)
        return values[-1] if values else None

    # ---- editing -------------------------------------------------------------
    def _render_entry_lines(self, key: str, value: str, sep: str = " = ",
                            ending: str | None = None) -> list[str]:
        """Raises InputError for a value oslo.config could not read back as given."""
        ending = ending or self.line_ending
        lines = value.split("\n")
        if "\r" in value or (len(lines) > 1 and any(
                not line.strip() or line != line.strip() for line in lines)):
            raise InputError(f"{self.path or '<config>'}: {key}: value {value!r} cannot "
                             "be written as oslo.config reads it (a carriage return, or a "
                             "blank or padded line in a multi-line value)")
        text = value
        # oslo.config strips the value and one pair of outer quotes: protect values
        # that would lose something on the way back in.
        if "\n" not in text and (text != text.strip() or (
                len(text) >= 1 and text[0] == text[-1] and text[0] in "\"'")):
            quote = "'" if '"' in text[:1] + text[-1:] else '"'
            text = f"{quote}{text}{quote}"
        first, *rest = text.split("\n")
        lines = [f"{key}{sep}{first}{ending}"]
        lines += [f"    {line}{ending}" for line in rest]
        return lines

    def set_value(self, entry: Entry, value: str) -> None:
        """Rewrite the value of one entry, keeping its key and separator spelling."""
        sep, ending = entry.separator_style
        entry.raw_lines = self._render_entry_lines(entry.key, value, sep, ending)
        entry.value = value

    def set(self, section: str, key: str, value: str) -> Entry:
        """Make value the only value of key: the first occurrence is rewritten in
        place, later ones removed; added at the end of the section when absent."""
        found = self.find(section, key)
        if not found:
            return self.add(section, key, value)
        first_section, first = found[0]
        for block, entry in found[1:]:
            block.nodes.remove(entry)
            entry.owner = None
        self.set_value(first, value)
        return first

    def set_all(self, section: str, key: str, values: list[str]) -> list[Entry]:
        """Replace every value of a multi-valued key, keeping its position."""
        found = self.find(section, key)
        if not found:
            return [self.add(section, key, v) for v in values]
        block, first = found[0]
        index = block.nodes.index(first)
        for owner, entry in found:
            owner.nodes.remove(entry)
            entry.owner = None
        new_entries = []
        sep, ending = first.separator_style
        for offset, value in enumerate(values):
            entry = Entry(first.key, value,
                          self._render_entry_lines(first.key, value, sep, ending), owner=block)
            block.nodes.insert(index + offset, entry)
            new_entries.append(entry)
        return new_entries

    def _ensure_terminated(self) -> None:
        """Give the last line a newline before appending after it."""
        for section in reversed(self.sections):
            if section.nodes:
                last = section.nodes[-1]
                if isinstance(last, Entry):
                    if not _line_ending(last.raw_lines[-1]):
                        last.raw_lines[-1] += self.line_ending
                elif not _line_ending(last.raw):
                    last.raw += self.line_ending
                return
            if section.header is not None:
                if not _line_ending(section.header):
                    section.header += self.line_ending
                return

    def add_section(self, name: str) -> Section:
        """The last block of section `name`, appended at the end when missing."""
        blocks = self.blocks(name)
        if blocks:
            return blocks[-1]
        self._ensure_terminated()
        ending = self.line_ending
        if any(s.nodes or s.header for s in self.sections):
            last_nodes = [n for s in self.sections for n in s.nodes]
            if not last_nodes or not (isinstance(last_nodes[-1], Trivia)
                                      and not last_nodes[-1].raw.strip()):
                self.sections[-1].nodes.append(Trivia(ending))
        section = Section(name, f"[{name}]{ending}")
        self.sections.append(section)
        return section

    def _insert_into(self, section: str, entry: Entry) -> Entry:
        block = self.add_section(section)
        if block is self.sections[-1]:
            self._ensure_terminated()
        # before the blank lines that separate this section from the next one
        index = len(block.nodes)
        while index > 0 and isinstance(block.nodes[index - 1], Trivia) \
                and not block.nodes[index - 1].raw.strip():
            index -= 1
        block.nodes.insert(index, entry)
        entry.owner = block
        return entry

    def add(self, section: str, key: str, value: str) -> Entry:
        """Append `key = value` to section (created at the end when missing)."""
        return self._insert_into(section, Entry(key, value, self._render_entry_lines(key, value)))

    def rename(self, entry: Entry, new_key: str) -> None:
        """Give an entry a new key, keeping its value text and separator."""
        first = entry.raw_lines[0]
        stripped = first.lstrip()
        if stripped.startswith(entry.key):
            entry.raw_lines[0] = first[: len(first) - len(stripped)] + new_key + \
                stripped[len(entry.key):]
        else:  # pragma: no cover - the key is always the start of its line
            sep, ending = entry.separator_style
            entry.raw_lines = self._render_entry_lines(new_key, entry.value, sep, ending)
        entry.key = new_key

    def section_of(self, entry: Entry) -> Section:
        """The block holding entry. Raises KeyError when it is not in the document."""
        if entry.owner is not None and entry.owner in self.sections:
            return entry.owner
        for section in self.sections:
            if any(node is entry for node in section.nodes):
                entry.owner = section
                return section
        raise KeyError(entry.key)

    def move(self, entry: Entry, new_section: str, new_key: str | None = None) -> None:
        """Move an entry (its raw lines) to another section, optionally renaming it."""
        owner = self.section_of(entry)
        if new_key is not None and new_key != entry.key:
            self.rename(entry, new_key)
        if owner.matches(new_section):
            return
        owner.nodes.remove(entry)
        if not _line_ending(entry.raw_lines[-1]):
            entry.raw_lines[-1] += self.line_ending
        self._insert_into(new_section, entry)

    def remove(self, entry: Entry, *, reason: str | None = None,
               keep_value: bool = True) -> None:
        """Remove an entry; with a reason it stays behind as comment lines saying why
        (its value too unless keep_value is False, e.g. for secrets)."""
        owner = self.section_of(entry)
        index = next(i for i, node in enumerate(owner.nodes) if node is entry)
        owner.nodes.pop(index)
        entry.owner = None
        if reason is None:
            return
        ending = _line_ending(entry.raw_lines[0]) or self.line_ending
        # no `key:` or `key =` in the note: redact() would take a secret-looking key
        # name (memcache_password) for a secret and mask the reason
        note = f"# sbs removed {entry.key!r} because {_one_line(reason)}{ending}"
        comments = [Trivia(note)]
        if keep_value:
            for raw in entry.raw_lines:
                body = raw.rstrip("\r\n")
                comments.append(Trivia(f"#{body}{_line_ending(raw) or ending}"))
        else:
            comments.append(Trivia(f"# (the secret value of {entry.key!r} is not kept here)"
                                   f"{ending}"))
        if index == len(owner.nodes) and not _line_ending(entry.raw_lines[-1]):
            comments[-1].raw = comments[-1].raw.rstrip("\r\n")
        owner.nodes[index:index] = comments


# Groups some services create at run time, which no generated metadata lists:
# glance's reserved stores (besides the stores named in enabled_backends).
RUN_TIME_GROUPS = ("os_glance_staging_store", "os_glance_tasks_store")


def dynamic_groups(document: Document) -> list[str]:
    """Groups of a document named by values rather than by the code: backends of
    `enabled_backends = fast:rbd,slow:file` (glance) or `= lvm1,lvm2` (cinder), and
    glance's reserved stores. The metadata cannot list them; the validator must skip
    them and translation keeps them."""
    groups: list[str] = []
    for value in document.get("DEFAULT", "enabled_backends"):
        for item in value.split(","):
            name = item.split(":", 1)[0].strip()
            if name and name not in groups:
                groups.append(name)
    present = {normalize_section(n) for n in document.section_names()}
    groups += [g for g in RUN_TIME_GROUPS if g in present and g not in groups]
    return groups


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass
class ConfigSet:
    """A service's configuration as oslo.config reads it: the --config-file documents
    in order, then the config_dir drop-ins (`*.conf`, sorted by name). A later
    document wins for single-valued options; multi-valued options collect every
    document's values in that same order."""

    documents: list[Document]

    @staticmethod
    def drop_in_order(paths: list[str]) -> list[str]:
        """The order oslo.config parses a config_dir's files: `*.conf`, sorted."""
        return sorted(p for p in paths if PurePosixPath(p).name.endswith(".conf"))

    def values(self, section: str, key: str) -> list[str]:
        out: list[str] = []
        for document in self.documents:
            out.extend(document.get(section, key))
        return out

    def effective(self, section: str, key: str) -> str | None:
        """The value a single-valued option takes."""
        values = self.values(section, key)
        return values[-1] if values else None

    def origin(self, section: str, key: str) -> Document | None:
        """The document the effective value comes from."""
        winner = None
        for document in self.documents:
            if document.get(section, key):
                winner = document
        return winner
