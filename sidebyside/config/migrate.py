"""The prepare step for one service's configuration: collect from the old controller,
translate with the new release's own metadata, write to the new controller with the
original owner/group/mode, validate there, verify what landed.

Effects go through the Hosts passed in; everything else is the pure modules
(ini, metadata, rules, translate).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sidebyside.config.collect import (
    Collected,
    Manifest,
    collect,
    compare_manifests,
    host_path,
    write_collected,
)
from sidebyside.config.django_settings import load_settings_rules, translate_settings
from sidebyside.config.ini import Document
from sidebyside.config.metadata import (
    ConfigFileSpec,
    ReleaseMetadata,
    ServiceConfigSpec,
    generate_metadata,
    service_spec,
)
from sidebyside.config.rules import load_rules
from sidebyside.config.translate import BusMove, HostMap, TranslationReport, translate_document
from sidebyside.config.validate import (
    ValidationResult,
    dynamic_groups,
    require_valid,
    slim_opt_data,
    validate_config,
)
from sidebyside.errors import VerificationError
from sidebyside.remote.base import Host, private_temp_dir


@dataclass(frozen=True)
class Side:
    """One controller as the config step sees it."""

    host: Host
    root: str = "/"
    venv_bin: str | None = None  # bin/ of the service's venv (generator, validator)


@dataclass
class MigrationResult:
    service: str
    collected: Manifest
    written: Manifest
    report: TranslationReport
    validation: list[ValidationResult] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # copied as is; a human must look

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "collected": self.collected.to_dict(),
                "written": self.written.to_dict(), "translation": self.report.to_dict(),
                "validation": [v.to_dict() for v in self.validation],
                "review": self.review}


MetadataPair = tuple[ReleaseMetadata, str]  # the model and the generator's raw YAML


def host_map_for(inventory: Any) -> HostMap:
    """The inventory's explicit host_map, every SQL URL pointed at the new side's
    database server, and every transport URL of the old side's vhost at the new side's
    bus (`new.broker`)."""
    database = inventory.new.database
    return HostMap(dict(inventory.host_map), database=f"{database.host}:{database.port}",
                   bus=bus_move_for(inventory))


def refuse_the_old_bus(bus: BusMove, documents: Mapping[str, Document]) -> None:
    """Nothing is written to the new controller whose transport URL may still reach the
    old side's bus: its RPC workers would consume the live cloud's queues. Raises
    VerificationError naming the file, section and key."""
    found = [f"{path} [{section.name}] {entry.key}: {why}"
             for path, document in documents.items()
             for section, entry in document.iter_entries()
             if (why := bus.still_old(entry.value))]
    if found:
        raise VerificationError(
            "translated configs may still put the new side's RPC workers on the old "
            "side's bus:\n  " + "\n  ".join(found) + "\n(give new.broker the address "
            "the URLs use, or another vhost)")


def bus_move_for(inventory: Any) -> BusMove | None:
    """Where the old side's transport URLs go on the new side: None when the inventory
    names no new broker (pre-flight refuses that where RPC workers would start) or the
    new one is the old one."""
    return bus_move_between(inventory, "old", "new")


def bus_move_between(inventory: Any, source: str, target: str) -> BusMove | None:
    """Transport URLs of side `source`'s bus moved to side `target`'s (a compute node
    follows the control plane: old -> new at cutover, new -> old at rollback); None
    when either side names no broker or both are one bus."""
    from sidebyside.sides import broker_addresses

    old, new = inventory.side(source).broker, inventory.side(target).broker
    if old is None or new is None:
        return None
    old_at, new_at = broker_addresses(inventory, old), broker_addresses(inventory, new)
    elsewhere = bool(new_at) and not (new_at & old_at)
    if old.vhost == new.vhost and not elsewhere:
        return None
    return BusMove(old_vhost=old.vhost, new_vhost=new.vhost, old_hosts=old_at,
                   new_host=sorted(new_at)[0] if elsewhere else None)


def _with_roots(host_map: HostMap, old_root: str, new_root: str) -> HostMap:
    """Paths under the old host's root prefix move to the new one's (the lab keeps
    each controller under its own directory; on real hosts both are /)."""
    old_prefix, new_prefix = old_root.rstrip("/"), new_root.rstrip("/")
    if not old_prefix or old_prefix == new_prefix or old_prefix in host_map.paths:
        return host_map
    return replace(host_map, paths={**host_map.paths, old_prefix: new_prefix or "/"})


def _spec_for(spec: ServiceConfigSpec, path: str) -> ConfigFileSpec:
    """The oslo file spec a collected path belongs to (a drop-in: its main file)."""
    for file_spec in spec.files:
        if path == posixpath.join("/etc", file_spec.path):
            return file_spec
        if file_spec.drop_in_dir and path.startswith(
                posixpath.join("/etc", file_spec.drop_in_dir) + "/"):
            return file_spec
    return spec.main_file


class _MetadataSource:
    """Metadata per config file kind (namespaces), given or generated once on a side."""

    def __init__(self, side: Side, service: str, release: str,
                 given: Mapping[str, MetadataPair] | None, required: bool) -> None:
        self.side, self.service, self.release = side, service, release
        self.given = dict(given or {})
        self.required = required
        self.cache: dict[tuple[str, ...], MetadataPair] = {}

    def get(self, file_spec: ConfigFileSpec) -> MetadataPair | None:
        if file_spec.path in self.given:
            return self.given[file_spec.path]
        if file_spec.namespaces in self.cache:
            return self.cache[file_spec.namespaces]
        if self.side.venv_bin is None:
            if self.required:
                raise VerificationError(
                    f"{self.side.host.name}: no venv of {self.service} {self.release} to "
                    f"generate the option metadata of {file_spec.path} with")
            return None
        pair = generate_metadata(self.side.host, self.side.venv_bin, self.service,
                                 self.release, file_spec.namespaces)
        self.cache[file_spec.namespaces] = pair
        return pair


@contextmanager
def _metadata_directory(host: Host, given: str | None) -> Iterator[str]:
    """`given` (created when missing, left in place), or a fresh private directory on
    host that is removed however the block ends. Raises RemoteError."""
    if given is not None:
        if not host.exists(given):
            host.run(["mkdir", "-p", "-m", "0700", given])
        yield given
        return
    with private_temp_dir(host, "sbs-config") as created:
        yield created


def migrate_service_config(
    service: str, from_release: str, to_release: str, *, old: Side, new: Side,
    host_map: HostMap | None = None,
    new_metadata: Mapping[str, MetadataPair] | None = None,
    old_metadata: Mapping[str, MetadataPair] | None = None,
    metadata_dir: str | None = None,
    drop_deprecated: bool = False,
    via_metadata: Sequence[Mapping[str, MetadataPair]] = (),
) -> MigrationResult:
    """Carry a service's configuration and key repositories from old to new.

    Each oslo.config file is translated with the metadata of its own namespaces
    (neutron.conf and ml2_conf.ini differ), generated on each side with its own
    release (new.venv_bin; old.venv_bin when given, for the old defaults) unless
    passed in, keyed by the file's path in services.yaml ("keystone/keystone.conf").
    The new metadata is placed on the new host for the validator, in metadata_dir
    when given, else in a private directory (`mktemp -d`, 0700) removed afterwards,
    also when validation fails: never a fixed, guessable path.
    via_metadata: for an upgrade spanning releases, their metadata (oldest first,
    keyed like new_metadata) when available: no host has them installed.

    Django settings files (kind django: horizon's) are rewritten by the settings rules
    of the transition and the host map (sidebyside.config.django_settings), never
    executed.

    Raises RemoteError (a host failed), InputError (a file oslo.config would refuse,
    a Django settings file that is not valid Python),
    VerificationError (a required file is missing, no metadata can be had, the
    validator reports errors, or what landed on the new host differs from what was
    written).
    """
    spec = service_spec(service)
    collected: Collected = collect(old.host, service, root=old.root)
    new_source = _MetadataSource(new, service, to_release, new_metadata, required=True)
    old_source = _MetadataSource(old, service, from_release, old_metadata, required=False)
    rules = load_rules(from_release, to_release, service)
    host_map = _with_roots(host_map or HostMap(), old.root, new.root)

    translated: dict[str, bytes] = {}
    documents: dict[str, tuple[Document, ConfigFileSpec]] = {}
    files = []
    for entry in collected.manifest.oslo_files:
        file_spec = _spec_for(spec, entry.path)
        new_pair = new_source.get(file_spec)
        assert new_pair is not None  # required: get() raised otherwise
        old_pair = old_source.get(file_spec)
        document = Document.parse(collected.contents[entry.path], path=entry.path,
                                  strict=True)
        via = [given[file_spec.path][0] for given in via_metadata
               if file_spec.path in given]
        files.append(translate_document(
            document, path=entry.path, service=service, new=new_pair[0],
            old=old_pair[0] if old_pair else None, rules=rules, host_map=host_map,
            drop_deprecated=drop_deprecated, via=via))
        translated[entry.path] = document.to_bytes()
        documents[entry.path] = (document, file_spec)
    django_files = collected.manifest.django_files
    settings_rules = (load_settings_rules(service, from_release, to_release)
                      if django_files else [])
    for entry in django_files:  # horizon's local_settings.py, local_settings.d/*.py
        result = translate_settings(collected.contents[entry.path], path=entry.path,
                                    service=service, from_release=from_release,
                                    to_release=to_release, rules=settings_rules,
                                    host_map=host_map)
        files.append(result)
        translated[entry.path] = result.document.to_bytes()
    report = TranslationReport(service, from_release, to_release, files)
    if host_map.bus is not None:
        refuse_the_old_bus(host_map.bus, {path: doc for path, (doc, _) in documents.items()})

    written = write_collected(new.host, collected.manifest, collected.contents,
                              root=new.root, replacements=translated)

    validation: list[ValidationResult] = []
    if new.venv_bin is not None and documents:
        with _metadata_directory(new.host, metadata_dir) as directory:
            placed: dict[str, str] = {}
            for path, (document, file_spec) in documents.items():
                if file_spec.path not in placed:
                    name = posixpath.basename(file_spec.path)
                    metadata_path = posixpath.join(
                        directory, f"{service}-{to_release}-{name}-options.yaml")
                    pair = new_source.get(file_spec)
                    assert pair is not None
                    new.host.put_file(metadata_path, slim_opt_data(pair[1]).encode(),
                                      mode=0o600)
                    placed[file_spec.path] = metadata_path
                validation.append(validate_config(
                    new.host, new.venv_bin, host_path(new.root, path),
                    placed[file_spec.path], exclude_groups=dynamic_groups(document)))
        require_valid(validation)

    landed = collect(new.host, service, root=new.root).manifest
    problems = compare_manifests(written, landed)
    if problems:
        raise VerificationError(f"{new.host.name}: {service} configuration differs from "
                                "what was written:\n" + "\n".join(problems))
    review = [e.path for e in collected.manifest.entries if e.review]
    return MigrationResult(service, collected.manifest, written, report, validation, review)
