"""Option metadata model, curated rules files, validator output, manifests (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.config.collect import (
    Manifest,
    ManifestEntry,
    compare_manifests,
    host_path,
    parse_find_output,
    tls_paths,
)
from sidebyside.config.ini import Document
from sidebyside.config.metadata import (
    equals_default,
    generator_argv,
    load_metadata,
    parse_metadata,
    service_spec,
)
from sidebyside.config.rules import load_rules, parse_rules, release_key, rule_files
from sidebyside.config.validate import parse_validator_output, require_valid, validator_argv
from sidebyside.errors import InputError, VerificationError

DATA = Path(__file__).parent.parent / "data" / "config"


def test_real_metadata_model() -> None:
    nova = load_metadata(str(DATA / "metadata" / "nova-2026.1.yaml"), service="nova",
                         release="2026.1")
    assert len(nova.options) > 800
    connection = nova.option("database", "connection")
    assert connection is not None and connection.secret and connection.default is None
    # a deprecated name, with its group
    found = nova.lookup("api", "neutron_default_tenant_id")
    assert found is not None and found.via_deprecated_name
    assert found.option.ref == "[api] neutron_default_project_id"
    # group names compare like oslo.config, '-' and '_' alike in names
    assert nova.lookup("API", "neutron-default-project-id") is not None
    assert nova.lookup("DEFAULT", "no_such_option") is None
    livesnapshot = nova.option("workarounds", "disable_libvirt_livesnapshot")
    assert livesnapshot is not None and livesnapshot.deprecated_for_removal
    assert "libvirt 1.2.2" in (livesnapshot.deprecated_reason or "")
    assert nova.option("DEFAULT", "enabled_apis") is None  # gone in 2026.1
    servers = nova.option("cache", "memcache_servers")
    assert servers is not None and servers.type == "list value"
    assert nova.knows_group("keystone_authtoken") and not nova.knows_group("file1")


def test_option_deprecated_for_removal_that_names_a_successor_resolves_to_it() -> None:
    nova = load_metadata(str(DATA / "metadata" / "nova-2024.1.yaml"), service="nova",
                         release="2024.1")
    auth_uri = nova.option("keystone_authtoken", "auth_uri")
    assert auth_uri is not None and auth_uri.deprecated_for_removal
    found = nova.lookup("keystone_authtoken", "auth_uri")
    assert found is not None and found.option.name == "www_authenticate_uri"


def test_malformed_metadata_is_refused_naming_the_source() -> None:
    with pytest.raises(InputError, match="m.yaml: no `options` mapping"):
        parse_metadata("a: 1\n", service="x", release="1", source="m.yaml")
    with pytest.raises(InputError, match="m.yaml: not YAML"):
        parse_metadata("a: [\n", service="x", release="1", source="m.yaml")
    with pytest.raises(InputError, match="cannot read"):
        load_metadata("/nonexistent/m.yaml", service="x", release="1")


def _option(kind: str, default: object):  # type: ignore[no-untyped-def]
    data = {"options": {"g": {"opts": [{"name": "o", "type": kind, "default": default}]}}}
    import yaml

    option = parse_metadata(yaml.safe_dump(data), service="s", release="r").option("g", "o")
    assert option is not None
    return option


@pytest.mark.parametrize(("kind", "default", "value", "equal"), [
    ("boolean value", True, "True", True),
    ("boolean value", True, "yes", True),
    ("boolean value", False, "true", False),
    ("integer value", 30, "30", True),
    ("integer value", 30, "030", True),
    ("integer value", 30, "31", False),
    ("floating point value", 1.5, "1.50", True),
    ("list value", ["a", "b"], "a, b", True),
    ("list value", ["a", "b"], "b,a", False),
    ("string value", None, "", True),
    ("string value", None, "x", False),
    ("string value", "rabbit://", "rabbit://", True),
    ("dict value", {"a": "1"}, "a:1", True),
    ("port value", 5000, "5001", False),
])
def test_equals_default_follows_the_type(kind: str, default: object, value: str,
                                         equal: bool) -> None:
    assert equals_default(_option(kind, default), [value]) is equal


def test_multi_valued_defaults_compare_as_lists() -> None:
    option = _option("multi valued", ["a"])
    assert equals_default(option, ["a"]) and not equals_default(option, ["a", "b"])


def test_service_specs_and_generator_argv() -> None:
    keystone = service_spec("keystone")
    assert keystone.main_file.path == "keystone/keystone.conf"
    assert "keystone" in keystone.main_file.namespaces
    assert keystone.key_repositories == ("keystone/fernet-keys", "keystone/credential-keys")
    horizon = service_spec("horizon")
    assert horizon.files[0].kind == "django"
    assert any(f.path.endswith("ml2_conf.ini") for f in service_spec("neutron").files)
    with pytest.raises(InputError, match="unknown service 'swift'"):
        service_spec("swift")
    assert generator_argv("/v/bin/", ["a", "b"]) == [
        "/v/bin/oslo-config-generator", "--format", "yaml", "--namespace", "a",
        "--namespace", "b"]


def test_rule_files_by_transition() -> None:
    assert rule_files("2025.1", "2026.1") == ["2025.1_2026.1.yaml", "any.yaml"]
    assert rule_files("2024.1", "2026.1") == ["2025.1_2026.1.yaml", "any.yaml"]
    assert rule_files("2024.1", "2025.1") == ["any.yaml"]
    assert release_key("2025.1") < release_key("2025.2") < release_key("2026.1")
    with pytest.raises(InputError):
        release_key("epoxy")


def test_rules_are_filtered_by_service() -> None:
    nova = {r.id for r in load_rules("2025.1", "2026.1", "nova")}
    keystone = {r.id for r in load_rules("2025.1", "2026.1", "keystone")}
    assert "nova-force-config-drive-always" in nova
    assert "nova-eventlet-api-listeners" in nova
    assert "nova-force-config-drive-always" not in keystone
    assert "sqlalchemy-mysql-pymysql" in keystone


def test_bad_rules_files_name_file_and_rule() -> None:
    with pytest.raises(InputError, match=r"r.yaml: rules\[0\]: kind 'explode'"):
        parse_rules("rules: [{id: x, kind: explode, option: a, reason: r}]", "r.yaml")
    with pytest.raises(InputError, match=r"r.yaml: rules\[0\]: bad pattern"):
        parse_rules("rules: [{id: x, kind: regex_value, option: a, pattern: '(',"
                    " reason: r}]", "r.yaml")
    with pytest.raises(InputError, match=r"r.yaml: rules\[0\]: missing"):
        parse_rules("rules: [{kind: remove, option: a}]", "r.yaml")


def test_validator_output_split_into_errors_and_warnings() -> None:
    output = ("WARNING:root:Deprecated opt DEFAULT/notification_driver found\n"
              "ERROR:root:DEFAULT/bogus is not part of the sample config\n"
              "INFO:root:Ignoring missing option \"auth_url\" from group\n")
    result = parse_validator_output("nova.conf", output, 1)
    assert result.errors == ["DEFAULT/bogus is not part of the sample config"]
    assert result.warnings == ["Deprecated opt DEFAULT/notification_driver found"]
    assert not result.ok
    clean = parse_validator_output("nova.conf", "WARNING:root:x\n", 0)
    assert clean.ok and clean.warnings == ["x"]
    crashed = parse_validator_output("n.conf", "Traceback\nParseError: at line 2", 1)
    assert crashed.errors == ["validator exited 1: Traceback | ParseError: at line 2"]
    with pytest.raises(VerificationError, match="nova.conf: DEFAULT/bogus"):
        require_valid([result, clean])
    require_valid([clean])
    assert validator_argv("/v/bin", "f", "m", ["g"]) == [
        "/v/bin/oslo-config-validator", "--input-file", "f", "--opt-data", "m",
        "--exclude-group", "g"]


def test_manifest_pure_parts() -> None:
    rows = parse_find_output(
        "d\tkeystone\tkeystone\t700\t4096\t/lab/old/etc/keystone/fernet-keys\n"
        "f\tkeystone\tkeystone\t600\t44\t/lab/old/etc/keystone/fernet-keys/0\n",
        "/lab/old/")
    assert rows == [("d", "keystone", "keystone", 0o700, 4096, "/etc/keystone/fernet-keys"),
                    ("f", "keystone", "keystone", 0o600, 44, "/etc/keystone/fernet-keys/0")]
    assert host_path("/", "/etc/x") == "/etc/x"
    assert host_path("/lab/new/", "/etc/x") == "/lab/new/etc/x"
    entry = ManifestEntry("/etc/k/0", "key", "keystone", "keystone", 0o600, "ab", 2)
    manifest = Manifest("keystone", "old-ctl1", "/", [entry])
    again = Manifest.from_dict(__import__("json").loads(manifest.to_json()))
    assert again == manifest and '"mode": "0600"' in manifest.to_json()
    changed = Manifest("keystone", "new", "/", [ManifestEntry(
        "/etc/k/0", "key", "root", "keystone", 0o644, "cd", 2)])
    assert compare_manifests(manifest, changed) == [
        "/etc/k/0: owner keystone != root", "/etc/k/0: mode 0600 != 0644",
        "/etc/k/0: sha256 ab != cd"]
    assert compare_manifests(manifest, Manifest("k", "n", "/")) == ["/etc/k/0: missing"]


def test_tls_paths_from_options() -> None:
    doc = Document.parse("[ssl]\ncert_file = /etc/ssl/a.pem\nkey_file = relative.key\n"
                         "[keystone_authtoken]\ncafile = /etc/ssl/ca.pem\n"
                         "[oslo_messaging_rabbit]\nssl_ca_file = /etc/ssl/ca.pem\n"
                         "[my_driver]\nclient_cert = /etc/x/client.CRT\nlog = /var/log/x\n")
    assert tls_paths([doc]) == ["/etc/ssl/a.pem", "/etc/ssl/ca.pem", "/etc/x/client.CRT"]
