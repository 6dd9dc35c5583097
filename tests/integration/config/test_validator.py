"""oslo-config-validator of 2026.1 against translated files and the real metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.config.ini import Document
from sidebyside.config.metadata import load_metadata
from sidebyside.config.rules import load_rules
from sidebyside.config.translate import HostMap, translate_document
from sidebyside.config.validate import dynamic_groups, slim_opt_data, validate_config
from sidebyside.remote.local import LocalHost

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "config"
GOLDEN = DATA / "golden"


def slim(service: str, release: str, folder: Path) -> str:
    path = folder / f"{service}-{release}-slim.yaml"
    path.write_text(slim_opt_data((DATA / "metadata" / f"{service}-{release}.yaml").read_text()))
    return str(path)


def translate(source: Path, service: str, old: str, new: str) -> Document:
    document = Document.parse(source.read_bytes(), strict=True)
    translate_document(
        document, path=source.name, service=service,
        new=load_metadata(str(DATA / "metadata" / f"{service}-{new}.yaml"),
                          service=service, release=new),
        old=load_metadata(str(DATA / "metadata" / f"{service}-{old}.yaml"),
                          service=service, release=old),
        rules=load_rules(old, new, service), host_map=HostMap({"10.0.0.11": "10.0.0.21"}))
    return document


def test_translated_nova_file_validates_except_the_unknown_group(
        oslo_config_venv: Path, tmp_path: Path) -> None:
    source = GOLDEN / "nova-2025.1-2026.1" / "nova.conf"
    host = LocalHost()
    metadata = str(DATA / "metadata" / "nova-2026.1.yaml")
    translated = tmp_path / "nova.conf"
    translated.write_bytes(translate(source, "nova", "2025.1", "2026.1").to_bytes())

    result = validate_config(host, str(oslo_config_venv), str(translated), metadata)
    # the one setting sbs could not place (reported as unknown, kept) is the one error
    assert result.errors == ["not_a_group/whatever is not part of the sample config"]
    assert result.warnings == []

    # the slim opt-data (what sbs puts on the new host) gives the same verdicts
    slim_path = slim("nova", "2026.1", tmp_path)
    assert validate_config(host, str(oslo_config_venv), str(translated), slim_path) == result

    # the untranslated file: every renamed and gone option is flagged
    before = validate_config(host, str(oslo_config_venv), str(source), slim_path)
    assert before == validate_config(host, str(oslo_config_venv), str(source), metadata)
    assert not before.ok
    flagged = " ".join(before.errors + before.warnings)
    for option in ("DEFAULT/enabled_apis", "wsgi/keep_alive", "healthcheck/path",
                   "api/auth_strategy"):
        assert option in flagged
    assert "Deprecated opt api/neutron_default_tenant_id found" in before.warnings


@pytest.mark.parametrize(("case", "service", "old", "new"), [
    ("nova-well-known-2024.1-2025.1", "nova", "2024.1", "2025.1"),
    ("keystone-2024.1-2025.1", "keystone", "2024.1", "2025.1"),
    ("keystone-2025.1-2026.1", "keystone", "2025.1", "2026.1"),
    ("glance-2024.1-2025.1", "glance", "2024.1", "2025.1"),
])
def test_translated_files_have_zero_validator_errors(
        case: str, service: str, old: str, new: str, oslo_config_venv: Path,
        tmp_path: Path) -> None:
    source = next((GOLDEN / case).glob("*.conf"))
    document = translate(source, service, old, new)
    translated = tmp_path / source.name
    translated.write_bytes(document.to_bytes())
    result = validate_config(LocalHost(), str(oslo_config_venv), str(translated),
                             slim(service, new, tmp_path),
                             exclude_groups=dynamic_groups(document))
    assert result.errors == [], result.errors
    assert result.ok


def test_sbs_config_validate(oslo_config_venv: Path) -> None:
    from typer.testing import CliRunner

    from sidebyside.cli.config import app
    from sidebyside.errors import VerificationError

    args = ["validate", "--venv", str(oslo_config_venv.parent), "--metadata",
            str(DATA / "metadata" / "keystone-2025.1.yaml")]
    good = GOLDEN / "keystone-2024.1-2025.1" / "expected" / "keystone.conf"
    result = CliRunner().invoke(app, [*args, str(good)])
    assert result.exit_code == 0, result.output
    assert "ok (0 errors" in result.output
    bad = GOLDEN / "keystone-2024.1-2025.1" / "keystone.conf"
    result = CliRunner().invoke(app, [*args, str(bad)])
    assert isinstance(result.exception, VerificationError)  # exit 9 through sbs
    assert "catalog/template_file is not part of the sample config" in result.output


@pytest.mark.parametrize(("service", "old", "new"), [
    (service, old, new) for service in ("keystone", "glance", "nova")
    for old, new in (("2024.1", "2025.1"), ("2025.1", "2026.1"))])
def test_a_file_setting_every_option_of_the_old_release_validates_in_the_new(
        service: str, old: str, new: str, oslo_config_venv: Path, tmp_path: Path) -> None:
    """The generator's sample of the old release with every option set: after
    translation the new release's validator finds zero errors."""
    import re

    sample = (DATA / "samples" / f"{service}-{old}.conf").read_text()
    source = tmp_path / f"{service}.conf"
    source.write_text(re.sub(r"(?m)^#(?=[A-Za-z_][\w.-]* = )", "", sample))
    document = translate(source, service, old, new)
    translated = tmp_path / "translated.conf"
    translated.write_bytes(document.to_bytes())
    result = validate_config(LocalHost(), str(oslo_config_venv), str(translated),
                             slim(service, new, tmp_path))
    assert result.errors == []
    # and the untranslated file does have errors: the test can fail
    before = validate_config(LocalHost(), str(oslo_config_venv), str(source),
                             slim(service, new, tmp_path))
    assert before.errors
