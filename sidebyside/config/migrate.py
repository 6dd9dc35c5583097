"""The prepare step for one service's configuration: collect from the old controller,
translate with the new release's own metadata, write to the new controller with the
original owner/group/mode, validate there, verify what landed.

Effects go through the Hosts passed in; everything else is the pure modules
(ini, metadata, rules, translate).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from sidebyside.config.collect import (
    Collected,
    Manifest,
    collect,
    compare_manifests,
    host_path,
    write_collected,
)
from sidebyside.config.ini import Document
from sidebyside.config.metadata import ReleaseMetadata, generate_metadata
from sidebyside.config.rules import load_rules
from sidebyside.config.translate import HostMap, TranslationReport, translate_document
from sidebyside.config.validate import (
    ValidationResult,
    dynamic_groups,
    require_valid,
    slim_opt_data,
    validate_config,
)
from sidebyside.errors import VerificationError
from sidebyside.remote.base import Host


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


def _metadata_for(side: Side, service: str, release: str,
                  given: tuple[ReleaseMetadata, str] | None) -> tuple[ReleaseMetadata, str]:
    if given is not None:
        return given
    if side.venv_bin is None:
        raise VerificationError(f"{side.host.name}: no venv of {service} {release} to "
                                "generate its option metadata with")
    return generate_metadata(side.host, side.venv_bin, service, release)


def migrate_service_config(
    service: str, from_release: str, to_release: str, *, old: Side, new: Side,
    host_map: HostMap | None = None,
    new_metadata: tuple[ReleaseMetadata, str] | None = None,
    old_metadata: tuple[ReleaseMetadata, str] | None = None,
    metadata_dir: str = "/var/tmp/sbs",
    drop_deprecated: bool = False,
) -> MigrationResult:
    """Carry a service's configuration and key repositories from old to new.

    Metadata is generated on each side with its own release (new.venv_bin, and
    old.venv_bin when given) unless passed as (model, raw YAML). The new metadata is
    kept on the new host under metadata_dir for the validator.

    Raises RemoteError (a host failed), InputError (a file oslo.config would refuse),
    VerificationError (a required file is missing, the validator reports errors, or
    what landed on the new host differs from what was written).
    """
    collected: Collected = collect(old.host, service, root=old.root)
    new_meta, new_yaml = _metadata_for(new, service, to_release, new_metadata)
    old_meta: ReleaseMetadata | None = None
    if old_metadata is not None or old.venv_bin is not None:
        old_meta = _metadata_for(old, service, from_release, old_metadata)[0]
    rules = load_rules(from_release, to_release, service)

    translated: dict[str, bytes] = {}
    documents: dict[str, Document] = {}
    files = []
    for entry in collected.manifest.oslo_files:
        document = Document.parse(collected.contents[entry.path], path=entry.path,
                                  strict=True)
        files.append(translate_document(document, path=entry.path, service=service,
                                        new=new_meta, old=old_meta, rules=rules,
                                        host_map=host_map,
                                        drop_deprecated=drop_deprecated))
        translated[entry.path] = document.to_bytes()
        documents[entry.path] = document
    report = TranslationReport(service, from_release, to_release, files)

    written = write_collected(new.host, collected.manifest, collected.contents,
                              root=new.root, replacements=translated)

    validation: list[ValidationResult] = []
    if new.venv_bin is not None and documents:
        metadata_path = posixpath.join(metadata_dir, f"{service}-{to_release}-options.yaml")
        if not new.host.exists(metadata_dir):
            new.host.run(["mkdir", "-p", metadata_dir])
        new.host.put_file(metadata_path, slim_opt_data(new_yaml).encode(), mode=0o644)
        for path, document in documents.items():
            validation.append(validate_config(
                new.host, new.venv_bin, host_path(new.root, path), metadata_path,
                exclude_groups=dynamic_groups(document)))
        require_valid(validation)

    landed = collect(new.host, service, root=new.root).manifest
    problems = compare_manifests(written, landed)
    if problems:
        raise VerificationError(f"{new.host.name}: {service} configuration differs from "
                                "what was written:\n" + "\n".join(problems))
    review = [e.path for e in collected.manifest.entries if e.review]
    return MigrationResult(service, collected.manifest, written, report, validation, review)
