"""`sbs config`: translate, diff, validate service configuration offline."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from sidebyside.cli import output
from sidebyside.config.ini import Document
from sidebyside.config.metadata import (
    ReleaseMetadata,
    generate_metadata,
    load_metadata,
    service_spec,
)
from sidebyside.config.rules import load_rules, release_key
from sidebyside.config.translate import HostMap, Masker, translate_files
from sidebyside.config.validate import (
    dynamic_groups,
    require_valid,
    slim_opt_data,
    validate_config,
)
from sidebyside.errors import InputError
from sidebyside.remote.base import RemoteError
from sidebyside.remote.local import LocalHost

app = typer.Typer(no_args_is_help=True, add_completion=False)


def refuse_symlink(target: Path) -> None:
    """Raises InputError (exit 2) when `target` is a symbolic link: sbs writes the
    file it was told to, never wherever a link planted there points."""
    if target.is_symlink():
        raise InputError(f"{target}: is a symbolic link; not writing through it",
                         hint="remove the link or choose another output path")


def write_atomically(target: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write `data` to `target` whole or not at all, never through a link planted at it
    (LocalHost.put_file: a fresh temporary file in the same directory, then os.replace).

    Raises InputError when `target` is a symbolic link or cannot be written.
    """
    refuse_symlink(target)
    try:
        LocalHost().put_file(str(target), data, mode=mode)
    except RemoteError as exc:
        raise InputError(f"{target}: cannot be written: {exc.message}") from None


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="keystone, glance, nova ...")]


def _metadata(path: Path | None, venv: Path | None, service: str, release: str,
              what: str) -> ReleaseMetadata | None:
    if path is not None:
        return load_metadata(str(path), service=service, release=release)
    if venv is not None:
        metadata, _ = generate_metadata(LocalHost(), str(venv / "bin"), service, release)
        return metadata
    if what == "new":
        raise InputError("the new release's option metadata is needed",
                         hint="pass --metadata FILE (oslo-config-generator --format yaml "
                              "output) or --venv DIR of the new release")
    return None


def _say(text: str, end: str = "\n") -> None:
    output.console.print(text, markup=False, soft_wrap=True, end=end)


def _release_in(path: Path) -> str:
    """The release a metadata file's name carries (nova-2025.1.yaml), else its name."""
    found = re.search(r"\d{4}\.\d+", path.name)
    return found.group(0) if found else path.stem


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


@app.command()
def translate(
    files: Annotated[list[Path], typer.Argument(help="Config files of the old release.")],
    service: ServiceOpt,
    from_release: Annotated[str, typer.Option("--from-release", help="e.g. 2024.1")],
    to_release: Annotated[str, typer.Option("--to-release", help="e.g. 2025.1")],
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", help="New release's metadata (oslo-config-generator --format yaml).")
    ] = None,
    old_metadata: Annotated[Path | None, typer.Option(
        "--old-metadata", help="Old release's metadata: its defaults tell custom settings.")
    ] = None,
    venv: Annotated[Path | None, typer.Option(
        "--venv", help="Generate the new metadata with this venv's oslo-config-generator.")
    ] = None,
    old_venv: Annotated[Path | None, typer.Option(
        "--old-venv", help="Generate the old metadata with this venv's generator.")] = None,
    via_metadata: Annotated[list[Path] | None, typer.Option(
        "--via-metadata", help="Metadata of a release between the two (repeatable, "
        "oldest first): follows names renamed there and dropped later.")] = None,
    host_map: Annotated[list[str] | None, typer.Option(
        "--host-map", help="old=new host name or address to rewrite (repeatable).")] = None,
    database: Annotated[str | None, typer.Option(
        "--database", help="host[:port] of the new database server for SQL URLs.")] = None,
    output_dir: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write translated files and report.json here.")] = None,
    all_settings: Annotated[bool, typer.Option(
        "--all", help="List settings equal to the default too.")] = False,
    drop_deprecated: Annotated[bool, typer.Option(
        "--drop-deprecated", help="Remove options deprecated for removal even when "
        "that changes the value in effect.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Translate config files to a new release; report where every setting went."""
    if release_key(from_release) >= release_key(to_release):
        raise InputError(f"--from-release {from_release} is not older than "
                         f"--to-release {to_release}")
    service_spec(service)  # raises InputError for an unknown service
    if metadata is None and venv is None and all(f.suffix == ".py" for f in files):
        # Django settings only (horizon's local_settings.py): no oslo option to look up
        new: ReleaseMetadata | None = ReleaseMetadata(service=service, release=to_release)
    else:
        new = _metadata(metadata, venv, service, to_release, "new")
    assert new is not None
    old = _metadata(old_metadata, old_venv, service, from_release, "old")
    via = [load_metadata(str(p), service=service, release=_release_in(p))
           for p in via_metadata or []]
    rules = load_rules(from_release, to_release, service)
    mapping = HostMap.parse(host_map or [], database)
    names = [f.name for f in files]
    if output_dir is not None and len(set(names)) != len(names):
        raise InputError("two input files share a name; translate them separately")
    report = translate_files({str(path): _read(path) for path in files}, service=service,
                             from_release=from_release, new=new, old=old, rules=rules,
                             host_map=mapping, drop_deprecated=drop_deprecated, via=via)
    report.metadata_used = {"new": str(metadata or venv),
                            "old": str(old_metadata or old_venv or "")}
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        targets = [output_dir / path.name for path in files] + [output_dir / "report.json"]
        for target in targets:  # every one checked before the first is written
            refuse_symlink(target)
        for result in report.files:
            source = Path(result.path)
            write_atomically(output_dir / source.name, result.document.to_bytes(),
                             mode=source.stat().st_mode & 0o7777)
        write_atomically(output_dir / "report.json",
                         (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    if as_json:
        # masked already, value by value and diff line by line: emit_json's redact
        # of whole strings would take `-path = ...` diff lines for `mysql -pSECRET`
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _say(report.to_text(all_settings=all_settings), end="")
        if output_dir is not None:
            _say(f"written to {output_dir}/")


@app.command()
def diff(
    old_file: Annotated[Path, typer.Argument(help="A config file.")],
    new_file: Annotated[Path, typer.Argument(help="The file to compare it with.")],
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", help="Metadata telling which options are secret.")] = None,
    service: Annotated[str, typer.Option("--service", "-s")] = "unknown",
    as_json: JsonOpt = False,
) -> None:
    """Settings added, removed or changed between two config files (secrets masked)."""
    meta = load_metadata(str(metadata), service=service, release="?") if metadata else None
    changes = setting_diff(Document.parse(_read(old_file), path=str(old_file)),
                           Document.parse(_read(new_file), path=str(new_file)), meta)
    if as_json:
        output.emit_json({"old": str(old_file), "new": str(new_file), "changes": changes})
        return
    if not changes:
        _say("no setting differs")
    for change in changes:
        _say(
            f"{change['change']:8} [{change['section']}] {change['key']}: "
            f"{change['old']!s} -> {change['new']!s}")


def setting_diff(old: Document, new: Document,
                 metadata: ReleaseMetadata | None = None) -> list[dict[str, object]]:
    """Per (section, key): added / removed / changed values, masked. Pure."""
    def shown(doc: Document, section: str, key: str) -> list[str] | None:
        values = doc.get(section, key)
        if not values:
            return None
        return [masker.display(section, key, v) for v in values]

    masker = Masker(metadata)
    masker.register(old)
    masker.register(new)
    keys: list[tuple[str, str]] = []
    for doc in (old, new):
        for block, entry in doc.iter_entries():
            if block.name is not None and (block.name, entry.key) not in keys:
                keys.append((block.name, entry.key))
    changes: list[dict[str, object]] = []
    for name, key in keys:
        before, after = old.get(name, key), new.get(name, key)
        if before == after:
            continue
        kind = "added" if not before else "removed" if not after else "changed"
        changes.append({"change": kind, "section": name, "key": key,
                        "old": shown(old, name, key), "new": shown(new, name, key)})
    return changes


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Config files to validate.")],
    venv: Annotated[Path, typer.Option("--venv", help="A venv with oslo.config "
                                       "(oslo-config-validator) of the new release.")],
    metadata: Annotated[Path, typer.Option("--metadata", help="The release's metadata.")],
    as_json: JsonOpt = False,
) -> None:
    """Run oslo-config-validator against the release's metadata; exit 9 on errors."""
    from sidebyside.remote.local import LocalHost

    host = LocalHost()
    slim = slim_opt_data(_read(metadata).decode())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="sbs-opt-data-") as opt_data:
        opt_data.write(slim)
        opt_data.flush()
        results = [validate_config(host, str(venv / "bin"), str(f), opt_data.name,
                                   exclude_groups=dynamic_groups(Document.parse(_read(f))))
                   for f in files]
    if as_json:
        output.emit_json([r.to_dict() for r in results])
    else:
        for r in results:
            state = "ok" if r.ok else "FAILED"
            _say(f"{r.config_file}: {state} ({len(r.errors)} errors, "
                 f"{len(r.warnings)} warnings)")
            for line in r.errors:
                _say(f"  error: {line}")
            for line in r.warnings:
                _say(f"  warning: {line}")
    require_valid(results)


@app.command()
def metadata(
    service: ServiceOpt,
    venv: Annotated[Path, typer.Option("--venv", help="The release's venv.")],
    output_file: Annotated[Path, typer.Option("--output", "-o")],
    release: Annotated[str, typer.Option("--release")] = "?",
) -> None:
    """Generate a release's option metadata with its own oslo-config-generator."""
    from sidebyside.remote.local import LocalHost

    refuse_symlink(output_file)
    parsed, text = generate_metadata(LocalHost(), str(venv / "bin"), service, release)
    write_atomically(output_file, text.encode(), mode=0o644)
    _say(f"{output_file}: {len(parsed.options)} options")

