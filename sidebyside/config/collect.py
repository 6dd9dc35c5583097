"""Collect a service's configuration and non-database state from a host, and write it
to another host with the original owner, group and mode.

Paths in a manifest are the service's own (`/etc/keystone/keystone.conf`); a host's
`root` prefix (the lab puts each controller under its own directory) is added when
reading and writing. File contents travel separately from the manifest, which holds
only metadata and sha256, so it can be journaled and printed.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sidebyside.config.ini import ConfigSet, Document
from sidebyside.config.metadata import ConfigFileSpec, service_spec, tls_options
from sidebyside.errors import InputError, VerificationError
from sidebyside.remote.base import Host

_FIND_FORMAT = r"%y\t%u\t%g\t%m\t%s\t%p\n"


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # as the service sees it, e.g. /etc/keystone/fernet-keys/0
    kind: str  # oslo | drop_in | paste | policy | review | django | key | tls | dir
    owner: str
    group: str
    mode: int
    sha256: str | None = None  # None for directories
    size: int = 0
    review: bool = False  # copied as is; an operator must look at it
    note: str = ""

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


@dataclass
class Manifest:
    service: str
    host: str
    root: str
    entries: list[ManifestEntry] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # optional files not present

    def entry(self, path: str) -> ManifestEntry | None:
        return next((e for e in self.entries if e.path == path), None)

    @property
    def oslo_files(self) -> list[ManifestEntry]:
        return [e for e in self.entries if e.kind in ("oslo", "drop_in")]

    @property
    def django_files(self) -> list[ManifestEntry]:
        """Django settings files (a settings directory's *.py; others are copied)."""
        return [e for e in self.entries if e.kind == "django" and e.path.endswith(".py")]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for entry in data["entries"]:
            entry["mode"] = f"{entry['mode']:04o}"
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        entries = [ManifestEntry(**{**e, "mode": int(str(e["mode"]), 8)})
                   for e in data.get("entries", [])]
        return cls(service=data["service"], host=data["host"], root=data["root"],
                   entries=entries, missing=list(data.get("missing", [])))


@dataclass
class Collected:
    manifest: Manifest
    contents: dict[str, bytes]  # path -> bytes, files only


def host_path(root: str, path: str) -> str:
    """path under the host's root prefix."""
    if not root or root == "/":
        return path
    return posixpath.join(root.rstrip("/"), path.lstrip("/"))


def service_path(root: str, path: str) -> str:
    """A path found in a config value, as a manifest path: where services run under
    the root prefix (the lab), their configs name files with the prefix already."""
    prefix = root.rstrip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        return path[len(prefix):] or "/"
    return path


def parse_find_output(text: str, root: str) -> list[tuple[str, str, str, int, int, str]]:
    """Lines of `find -printf '%y\\t%u\\t%g\\t%m\\t%s\\t%p\\n'` -> (type, owner, group,
    mode, size, path without the root prefix). Pure."""
    rows = []
    prefix = root.rstrip("/") if root and root != "/" else ""
    for line in text.splitlines():
        if not line.strip():
            continue
        kind, owner, group, mode, size, path = line.split("\t", 5)
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        rows.append((kind, owner, group, int(mode, 8), int(size), path))
    return rows


def _stat(host: Host, root: str, paths: Iterable[str], *, recursive: bool
          ) -> list[tuple[str, str, str, int, int, str]]:
    targets = [host_path(root, p) for p in paths]
    if not targets:
        return []
    argv = ["find", "-L", *targets]
    if not recursive:
        argv += ["-maxdepth", "0"]
    argv += ["-printf", _FIND_FORMAT]
    result = host.run(argv)
    return parse_find_output(result.stdout, root)


_TLS_SUFFIXES = (".pem", ".crt", ".cert", ".key", ".p12", ".pfx")


def tls_paths(documents: Iterable[Document]) -> list[str]:
    """Absolute paths of TLS files that the documents' options point at: the known
    TLS options (services.yaml), and any value that is an absolute path to a
    certificate or key file by its suffix."""
    wanted = tls_options()
    found: list[str] = []
    for document in documents:
        values = [v for section, option in wanted for v in document.get(section, option)]
        values += [entry.value for _, entry in document.iter_entries()
                   if entry.value.strip().lower().endswith(_TLS_SUFFIXES)]
        for value in values:
            value = value.strip()
            if value.startswith("/") and " " not in value and value not in found:
                found.append(value)
    return found


def collect(host: Host, service: str, *, root: str = "/",
            extra_paths: Iterable[str] = ()) -> Collected:
    """Read a service's config files, drop-ins, key repositories and the TLS files
    its options point at from host, with owner, group, mode and sha256.

    Raises InputError (unknown service), VerificationError naming host and path when
    a required file is missing, RemoteError when the host fails.
    """
    spec = service_spec(service)
    manifest = Manifest(service=service, host=host.name, root=root)
    contents: dict[str, bytes] = {}

    def add_rows(rows: list[tuple[str, str, str, int, int, str]], kind: str,
                 review: bool = False, note: str = "") -> None:
        for ftype, owner, group, mode, _size, path in rows:
            if manifest.entry(path) is not None:
                continue
            if ftype == "d":
                manifest.entries.append(ManifestEntry(path, "dir", owner, group, mode))
                continue
            if ftype != "f":
                continue  # sockets, fifos: nothing to carry
            data = host.read_file(host_path(root, path))
            contents[path] = data
            manifest.entries.append(ManifestEntry(
                path, kind, owner, group, mode, hashlib.sha256(data).hexdigest(),
                len(data), review, note))

    documents: list[Document] = []
    for file_spec in spec.files:
        path = posixpath.join("/etc", file_spec.path)
        if not host.exists(host_path(root, path)):
            if file_spec.optional:
                manifest.missing.append(path)
                continue
            raise VerificationError(f"{host.name}: {host_path(root, path)}: missing "
                                    f"(a {service} configuration file sbs must carry)")
        note = file_spec.note or ("copied as is: review it for the new release"
                                  if file_spec.review else "")
        add_rows(_stat(host, root, [path], recursive=file_spec.directory),
                 file_spec.kind, review=file_spec.review, note=note)
        if file_spec.kind == "oslo":
            documents.append(Document.parse(contents[path], path=path))
            documents += _collect_drop_ins(host, root, file_spec, manifest, contents, add_rows)
    for repository in spec.key_repositories:
        path = posixpath.join("/etc", repository)
        if host.exists(host_path(root, path)):
            add_rows(_stat(host, root, [path], recursive=True), "key")
        else:
            manifest.missing.append(path)
    tls = [p for p in (service_path(root, t) for t in tls_paths(documents))
           if host.exists(host_path(root, p))]
    add_rows(_stat(host, root, tls, recursive=False), "tls")
    extra = [p for p in extra_paths if host.exists(host_path(root, p))]
    add_rows(_stat(host, root, extra, recursive=True), "extra")
    return Collected(manifest, contents)


def _collect_drop_ins(host: Host, root: str, file_spec: ConfigFileSpec, manifest: Manifest,
                      contents: dict[str, bytes], add_rows: Any) -> list[Document]:
    if not file_spec.drop_in_dir:
        return []
    directory = posixpath.join("/etc", file_spec.drop_in_dir)
    if not host.exists(host_path(root, directory)):
        return []
    rows = _stat(host, root, [directory], recursive=True)
    add_rows([r for r in rows if r[0] == "d"], "dir")
    files = ConfigSet.drop_in_order([r[5] for r in rows if r[0] == "f"])
    add_rows([r for r in rows if r[5] in files], "drop_in")
    return [Document.parse(contents[p], path=p) for p in files]


def write_collected(host: Host, manifest: Manifest, contents: Mapping[str, bytes], *,
                    root: str = "/", replacements: Mapping[str, bytes] | None = None
                    ) -> Manifest:
    """Write every manifest entry to host under root with its owner, group and mode;
    `replacements` (path -> bytes, e.g. translated configs) take the place of the
    collected contents. Returns the manifest of what was written.

    Raises InputError when a file's content is missing, RemoteError when writing fails.
    """
    replacements = replacements or {}
    written = Manifest(service=manifest.service, host=host.name, root=root,
                       missing=list(manifest.missing))
    for entry in sorted(manifest.entries, key=lambda e: (not e.is_dir, e.path)):
        target = host_path(root, entry.path)
        if entry.is_dir:
            host.run(["install", "-d", "-m", f"{entry.mode:04o}", "-o", entry.owner,
                      "-g", entry.group, target])
            written.entries.append(entry)
            continue
        data = replacements.get(entry.path, contents.get(entry.path))
        if data is None:
            raise InputError(f"{entry.path}: in the manifest but its content was not collected")
        parent = posixpath.dirname(target)
        if not host.exists(parent):
            host.run(["mkdir", "-p", parent])
        host.put_file(target, data, mode=entry.mode, owner=entry.owner, group=entry.group)
        written.entries.append(ManifestEntry(
            entry.path, entry.kind, entry.owner, entry.group, entry.mode,
            hashlib.sha256(data).hexdigest(), len(data), entry.review, entry.note))
    return written


def compare_manifests(expected: Manifest, actual: Manifest) -> list[str]:
    """Differences (path: what) between what should be on a host and what is. Pure."""
    problems = []
    for entry in expected.entries:
        other = actual.entry(entry.path)
        if other is None:
            problems.append(f"{entry.path}: missing")
            continue
        for name in ("owner", "group", "mode", "sha256"):
            want, have = getattr(entry, name), getattr(other, name)
            if want != have:
                shown = (f"{want:04o} != {have:04o}" if name == "mode"
                         else f"{want} != {have}")
                problems.append(f"{entry.path}: {name} {shown}")
    return problems
