"""Translation with real option metadata of keystone, glance and nova releases.

Golden cases live in tests/data/config/golden/<case>/: case.yaml, the old file, and
expected/ (the translated file and the text report). After a deliberate change,
regenerate them with SBS_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest
import yaml

from sidebyside.config.ini import Document
from sidebyside.config.metadata import ReleaseMetadata, load_metadata
from sidebyside.config.rules import load_rules
from sidebyside.config.translate import (
    ADDED,
    KEPT,
    REMOVED,
    RENAMED,
    RENAMED_AND_REWRITTEN,
    REWRITTEN,
    UNKNOWN,
    BusMove,
    FileTranslation,
    HostMap,
    SettingReport,
    TranslationReport,
    translate_document,
    translate_files,
)
from sidebyside.errors import InputError
from sidebyside.redact import forget_secrets

DATA = Path(__file__).parent.parent / "data" / "config"
GOLDEN = DATA / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.yaml").exists())


@cache
def metadata(service: str, release: str) -> ReleaseMetadata:
    return load_metadata(str(DATA / "metadata" / f"{service}-{release}.yaml"),
                         service=service, release=release)


def run_case(name: str) -> tuple[FileTranslation, TranslationReport, Path]:
    folder = GOLDEN / name
    case = yaml.safe_load((folder / "case.yaml").read_text())
    source = next(p for p in folder.iterdir() if p.suffix == ".conf")
    service, old, new = case["service"], case["from"], case["to"]
    result = translate_document(
        Document.parse(source.read_bytes(), path=source.name, strict=True),
        path=source.name, service=service, new=metadata(service, new),
        old=metadata(service, old), rules=load_rules(old, new, service),
        host_map=HostMap(case.get("host_map") or {}, case.get("database")))
    return result, TranslationReport(service, old, new, [result]), source


def settings_of(result: FileTranslation) -> dict[str, SettingReport]:
    return {s.ref: s for s in result.settings}


@pytest.mark.parametrize("name", CASES)
def test_golden_translation(name: str) -> None:
    result, report, source = run_case(name)
    expected_dir = GOLDEN / name / "expected"
    expected_file = expected_dir / source.name
    expected_report = expected_dir / "report.txt"
    text = report.to_text()
    if os.environ.get("SBS_UPDATE_GOLDEN"):
        expected_dir.mkdir(exist_ok=True)
        expected_file.write_bytes(result.document.to_bytes())
        expected_report.write_text(text)
    assert result.document.to_bytes() == expected_file.read_bytes()
    assert text == expected_report.read_text()


@pytest.mark.parametrize("name", CASES)
def test_no_secret_of_the_input_reaches_the_report(name: str) -> None:
    forget_secrets()  # the masking must not depend on what an earlier test registered
    result, report, source = run_case(name)
    secrets = [word for word in source.read_text().replace("@", " ").replace(":", " ")
               .replace("=", " ").split() if "Pass-" in word or "Key-" in word]
    assert secrets, "each case carries secrets to check"
    shown = report.to_text() + str(report.to_dict())
    for secret in secrets:
        assert secret not in shown
    forget_secrets()


def test_nova_2026_1_renames_and_removals_from_real_metadata() -> None:
    result, _, _ = run_case("nova-2025.1-2026.1")
    s = settings_of(result)
    doc = result.document
    # renamed in 2026.1 (deprecated names in its metadata)
    assert s["[api] neutron_default_tenant_id"].outcome == RENAMED
    assert doc.get("api", "neutron_default_project_id") == ["default"]
    assert s["[cache] memcache_socket_timeout"].new_ref == "[cache] socket_timeout"
    # two old names of one new option: the first wins, the second is dropped, saying why
    assert s["[cache] memcache_password"].outcome == RENAMED
    assert s["[cache] redis_password"].outcome == REMOVED
    assert "set too" in s["[cache] redis_password"].reasons[0]
    assert doc.get("cache", "password") == ["CachePass-2025"]
    # gone in 2026.1: the curated reason (eventlet API servers), the metadata's otherwise
    assert s["[DEFAULT] enabled_apis"].outcome == REMOVED
    assert "WSGI server" in s["[DEFAULT] enabled_apis"].reasons[0]
    assert s["[wsgi] keep_alive"].outcome == REMOVED
    assert "not an option of nova 2026.1" in s["[wsgi] keep_alive"].reasons[0]
    assert s["[api] auth_strategy"].outcome == REMOVED
    assert doc.get("DEFAULT", "enabled_apis") == []
    assert "#enabled_apis = osapi_compute,metadata" in doc.render()
    # deprecated for removal in 2026.1 but still working: kept (value is not the default)
    assert s["[DEFAULT] default_green_pool_size"].outcome == KEPT
    assert "deprecated for removal" in s["[DEFAULT] default_green_pool_size"].reasons[0]
    assert s["[filter_scheduler] aggregate_image_properties_isolation_namespace"].outcome == KEPT
    # untouched custom settings, and a setting equal to the old default
    assert s["[DEFAULT] cpu_allocation_ratio"].outcome == KEPT
    assert s["[DEFAULT] cpu_allocation_ratio"].custom
    assert not s["[DEFAULT] debug"].custom
    assert s["[not_a_group] whatever"].outcome == UNKNOWN
    assert s["[keystone_authtoken] username"].outcome == KEPT  # an auth plugin option


def test_host_map_and_database_server_rewriting() -> None:
    result, _, _ = run_case("nova-2025.1-2026.1")
    doc = result.document
    s = settings_of(result)
    assert doc.get("DEFAULT", "my_ip") == ["10.0.0.21"]
    assert doc.get("DEFAULT", "transport_url") == [
        "rabbit://nova:RabbitPass-2025@new-ctl1.lab:5672/"]
    assert doc.get("database", "connection") == [
        "mysql+pymysql://nova:NovaDbPass-2025@10.0.0.30:13306/nova"]
    assert doc.get("api_database", "connection") == [
        "mysql+pymysql://nova:NovaApiPass-2025@10.0.0.30:13306/nova_api"]
    assert doc.get("cache", "memcache_servers") == ["new-ctl1.lab:11211,10.0.0.21:11211"]
    assert doc.get("keystone_authtoken", "memcached_servers") == ["new-ctl1.lab:11211"]
    assert doc.get("keystone_authtoken", "www_authenticate_uri") == [
        "http://new-ctl1.lab:5000/"]
    assert s["[DEFAULT] transport_url"].outcome == REWRITTEN
    assert s["[DEFAULT] transport_url"].new_value == "rabbit://nova:***@new-ctl1.lab:5672/"
    assert "host map old-ctl1.lab -> new-ctl1.lab" in s["[DEFAULT] transport_url"].reasons


def test_host_map_respects_name_boundaries() -> None:
    doc = Document.parse("[DEFAULT]\na = 10.0.0.1,10.0.0.11,h1.x:1,h1,xh1,h1-b\n"
                         "transport_url = rabbit://h1:h1@h1:5672/\n")
    translate_document(doc, path="n", service="nova", new=metadata("nova", "2025.1"),
                       host_map=HostMap({"10.0.0.1": "10.9.9.9", "h1": "n1"}))
    assert doc.get("DEFAULT", "a") == ["10.9.9.9,10.0.0.11,h1.x:1,n1,xh1,h1-b"]
    # never inside credentials
    assert doc.get("DEFAULT", "transport_url") == ["rabbit://h1:h1@n1:5672/"]


def test_the_new_sides_bus_moves_every_transport_url_of_the_old_vhost() -> None:
    doc = Document.parse(
        "[DEFAULT]\ntransport_url = rabbit://nova:s3cr@t@10.0.0.21:5672,nova:s3cr@t@10.0.0.22:5672"
        "/cloud-old?ssl=1\n"
        "[oslo_messaging_notifications]\ntransport_url = rabbit://n:p@10.0.0.21:5672/other\n")
    bus = BusMove(old_vhost="cloud-old", new_vhost="cloud/new",
                  old_hosts=frozenset({"10.0.0.21", "10.0.0.22"}), new_host="10.1.0.21")
    result = translate_document(doc, path="n", service="nova", new=metadata("nova", "2025.1"),
                                host_map=HostMap(bus=bus))
    assert doc.get("DEFAULT", "transport_url") == [
        "rabbit://nova:s3cr@t@10.1.0.21:5672,nova:s3cr@t@10.1.0.21:5672/cloud%2Fnew?ssl=1"]
    # another vhost (a notifications bus the operator keeps) is left alone
    assert doc.get("oslo_messaging_notifications", "transport_url") == [
        "rabbit://n:p@10.0.0.21:5672/other"]
    report = settings_of(result)["[DEFAULT] transport_url"]
    assert report.outcome == REWRITTEN and "s3cr" not in str(report.new_value)
    assert any("vhost 'cloud-old' -> 'cloud/new'" in r for r in report.reasons)


@pytest.mark.parametrize(("url", "old_vhost", "moved"), [
    ("rabbit://u:p@h:5672/", "/", "rabbit://u:p@h:5672/v2"),      # the default vhost
    ("rabbit://u:p@h:5672/v1", "v1", "rabbit://u:p@h:5672/v2"),
    ("rabbit://u:p@h:5672/%2F", "/", "rabbit://u:p@h:5672/v2"),
    ("rabbit://u:p@h:5672", "/", "rabbit://u:p@h:5672/v2"),
    ("rabbit://u:p@h:5672/a", "/", None),
    ("mysql+pymysql://u:p@h/a", "a", None),                         # not a bus
])
def test_bus_move_recognises_the_old_vhost_in_every_spelling(
        url: str, old_vhost: str, moved: str | None) -> None:
    assert BusMove(old_vhost=old_vhost, new_vhost="v2").apply(url) == moved


def test_a_url_that_may_still_reach_the_old_bus_is_refused_before_anything_is_written(
) -> None:
    from sidebyside.config.migrate import refuse_the_old_bus
    from sidebyside.errors import VerificationError

    # the same vhost name on a new broker elsewhere: only the new broker's address is safe
    bus = BusMove(old_vhost="/", new_vhost="/", old_hosts=frozenset({"10.0.0.21"}),
                  new_host="10.1.0.21")
    assert bus.still_old("rabbit://u:p@10.1.0.21:5672/") is None
    assert bus.still_old("rabbit://u:p@10.1.0.21:5672/other") is None
    doc = Document.parse("[DEFAULT]\ntransport_url = rabbit://u:p@rabbit1.lab:5672/\n")
    translate_document(doc, path="nova/nova.conf", service="nova",
                       new=metadata("nova", "2025.1"), host_map=HostMap(bus=bus))
    # a name the inventory does not give for the old broker is not moved: refused
    assert doc.get("DEFAULT", "transport_url") == ["rabbit://u:p@rabbit1.lab:5672/"]
    with pytest.raises(VerificationError, match=r"nova/nova.conf \[DEFAULT\] transport_url: "
                       r"host rabbit1.lab is not the new broker"):
        refuse_the_old_bus(bus, {"nova/nova.conf": doc})
    moved = Document.parse("[DEFAULT]\ntransport_url = rabbit://u:p@10.0.0.21:5672/\n")
    translate_document(moved, path="n", service="nova", new=metadata("nova", "2025.1"),
                       host_map=HostMap(bus=bus))
    refuse_the_old_bus(bus, {"n": moved})  # moved to 10.1.0.21: nothing to refuse


def test_the_four_well_known_examples() -> None:
    result, _, _ = run_case("nova-well-known-2024.1-2025.1")
    s = settings_of(result)
    doc = result.document
    # auth_host/auth_port/auth_protocol -> one URL (identity_uri is gone: www_authenticate_uri)
    assert doc.get("keystone_authtoken", "www_authenticate_uri") == ["https://ctl-new:35357"]
    for old in ("auth_host", "auth_port", "auth_protocol"):
        assert s[f"[keystone_authtoken] {old}"].outcome == REMOVED
        assert doc.get("keystone_authtoken", old) == []
    added = [x for x in result.settings if x.outcome == ADDED]
    # ... and the compute nodes' RPC pin, which side by side always needs
    assert [a.new_ref for a in added] == ["[keystone_authtoken] www_authenticate_uri",
                                          "[upgrade_levels] compute"]
    assert doc.get("upgrade_levels", "compute") == ["auto"]
    # force_config_drive = always -> True
    assert doc.get("DEFAULT", "force_config_drive") == ["True"]
    assert s["[DEFAULT] force_config_drive"].outcome == REWRITTEN
    # mysql:// -> mysql+pymysql:// (every connection option)
    assert doc.get("database", "connection") == [
        "mysql+pymysql://nova:LegacyDbPass-1@ctl-new/nova?charset=utf8"]
    assert doc.get("database", "slave_connection") == [
        "mysql+pymysql://nova:LegacyDbPass-1@ctl-old-replica/nova"]
    assert doc.get("api_database", "connection")[0].startswith("mysql+pymysql://")
    # [workarounds] disable_libvirt_livesnapshot: removed with the curated reason
    assert s["[workarounds] disable_libvirt_livesnapshot"].outcome == REMOVED
    assert "libvirt 1.2.2" in s["[workarounds] disable_libvirt_livesnapshot"].reasons[0]


def test_auth_uri_becomes_www_authenticate_uri() -> None:
    result, _, _ = run_case("glance-2024.1-2025.1")
    assert result.document.get("keystone_authtoken", "www_authenticate_uri") == [
        "http://10.0.0.21:5000"]
    assert settings_of(result)["[keystone_authtoken] auth_uri"].outcome == \
        RENAMED_AND_REWRITTEN


def test_keystone_2025_1_gone_and_deprecated_options() -> None:
    result, _, _ = run_case("keystone-2024.1-2025.1")
    s = settings_of(result)
    for gone in ("[DEFAULT] rpc_conn_pool_size", "[DEFAULT] use_eventlog",
                 "[catalog] template_file", "[oslo_messaging_amqp] idle_timeout"):
        assert s[gone].outcome == REMOVED, gone
        assert "not an option of keystone 2025.1" in s[gone].reasons[0]
    assert "Windows support" in s["[DEFAULT] use_eventlog"].reasons[0]
    # enforce_scope: deprecated for removal in 2025.1 AND its default flipped to True:
    # dropping `false` would turn scope enforcement on, so it stays, with a warning
    assert s["[oslo_policy] enforce_scope"].outcome == KEPT
    assert "default is true" in s["[oslo_policy] enforce_scope"].reasons[0]
    # deprecated for removal and set to the default: removing it changes nothing
    assert s["[oslo_messaging_rabbit] heartbeat_in_pthread"].outcome == REMOVED
    assert s["[token] cache_on_issue"].outcome == REMOVED
    assert not s["[token] cache_on_issue"].custom  # true is the 2024.1 default
    assert s["[token] expiration"].custom and not s["[token] provider"].custom
    assert result.document.get("database", "connection") == [
        "mysql+pymysql://keystone:KsDbPass-2024@db-new.lab:3306/keystone"]


def test_drop_deprecated_removes_even_when_behaviour_changes() -> None:
    doc = Document.parse("[oslo_policy]\nenforce_scope = false\n")
    result = translate_document(doc, path="k", service="keystone",
                                new=metadata("keystone", "2025.1"),
                                old=metadata("keystone", "2024.1"), drop_deprecated=True)
    assert result.settings[0].outcome == REMOVED
    assert doc.get("oslo_policy", "enforce_scope") == []


def test_keystone_2026_1_cache_renames() -> None:
    result, _, _ = run_case("keystone-2025.1-2026.1")
    doc = result.document
    assert doc.get("cache", "socket_timeout") == ["1.0"]
    assert doc.get("cache", "hashclient_dead_timeout") == ["30"]
    assert doc.get("cache", "hashclient_retry_timeout") == ["2"]
    s = settings_of(result)
    assert s["[healthcheck] path"].outcome == REMOVED
    assert s["[DEFAULT] watch_log_file"].outcome == REMOVED


def test_old_alias_resolved_through_the_old_metadata() -> None:
    # [DEFAULT] notification_driver: an alias of [oslo_messaging_notifications] driver
    # that keystone 2024.1 lists; translate 2024.1 -> 2025.1 moves it.
    doc = Document.parse("[DEFAULT]\nnotification_driver = messagingv2\n")
    result = translate_document(doc, path="k", service="keystone",
                                new=metadata("keystone", "2025.1"),
                                old=metadata("keystone", "2024.1"))
    assert result.settings[0].outcome == RENAMED
    assert doc.get("oslo_messaging_notifications", "driver") == ["messagingv2"]
    assert doc.get("DEFAULT", "notification_driver") == []


def test_untouched_file_gives_no_diff_and_same_bytes() -> None:
    text = "# c\n[DEFAULT]\ndebug=true\n\n[token]\nexpiration = 7200\n"
    doc = Document.parse(text)
    result = translate_document(doc, path="k", service="keystone",
                                new=metadata("keystone", "2025.1"),
                                old=metadata("keystone", "2024.1"))
    assert result.new_text == text and result.diff == "" and not result.changed
    assert {s.outcome for s in result.settings} == {KEPT}


def test_diff_masks_secret_options_but_shows_hosts() -> None:
    forget_secrets()
    result, _, _ = run_case("nova-2025.1-2026.1")
    assert "-connection = mysql+pymysql://nova:***@10.0.0.11/nova" in result.diff
    assert "+connection = mysql+pymysql://nova:***@10.0.0.30:13306/nova" in result.diff
    assert "password = ***" in result.diff
    assert "KeystonePass-2025" not in result.diff


def test_translate_files_refuses_what_oslo_config_refuses() -> None:
    with pytest.raises(InputError, match=r"nova.conf:2: no ':' or '='"):
        translate_files({"nova.conf": b"[DEFAULT]\nbroken line\n"}, service="nova",
                        from_release="2024.1", new=metadata("nova", "2025.1"))


def test_host_map_parse() -> None:
    mapping = HostMap.parse(["a=b", " c = d "], database="db:3306")
    assert mapping.hosts == {"a": "b", "c": "d"} and mapping.database == "db:3306"
    with pytest.raises(InputError, match="expected old=new"):
        HostMap.parse(["nope"])


def test_masker_trusts_metadata_and_guesses_only_for_unknown_options() -> None:
    from sidebyside.config.translate import Masker
    from sidebyside.redact import redact

    forget_secrets()
    masker = Masker(metadata("nova", "2026.1"))
    assert masker.is_secret("database", "connection")  # secret=True in the metadata
    assert not masker.is_secret("token", "token_cache_time")
    assert not masker.is_secret("keystone_authtoken", "token_cache_time")
    assert masker.is_secret("keystone_authtoken", "password")  # auth plugin option
    assert masker.is_secret("my_driver", "api_secret")  # unknown: by its name
    assert not masker.is_secret("my_driver", "max_keys")
    assert masker.display("database", "connection", "mysql+pymysql://u:Pw-12345@db/n") == \
        "mysql+pymysql://u:***@db/n"
    assert masker.display("keystone_authtoken", "password", "Pw-12345") == "***"
    document = Document.parse("[keystone_authtoken]\npassword = Registered-Pw-1\n"
                              "token_cache_time = 3600\n")
    masker.register(document)
    assert redact("it is Registered-Pw-1 and 3600") == "it is *** and 3600"
    forget_secrets()


def test_paths_under_the_old_root_follow_to_the_new_root() -> None:
    doc = Document.parse("[fernet_tokens]\nkey_repository = /srv/lab/old/etc/keystone/fk/\n"
                         "[DEFAULT]\nlog_dir = /srv/lab/older/log\n"
                         "log_file = /srv/lab/old\n"
                         "[database]\nconnection = sqlite:////srv/lab/old/db.sqlite\n"
                         "[ldap]\npassword = /srv/lab/old/secret\n")
    result = translate_document(doc, path="k", service="keystone",
                                new=metadata("keystone", "2025.1"),
                                host_map=HostMap(paths={"/srv/lab/old/": "/srv/lab/new"}))
    assert doc.get("fernet_tokens", "key_repository") == ["/srv/lab/new/etc/keystone/fk/"]
    assert doc.get("DEFAULT", "log_dir") == ["/srv/lab/older/log"]  # another directory
    assert doc.get("DEFAULT", "log_file") == ["/srv/lab/new"]
    assert doc.get("database", "connection") == ["sqlite:////srv/lab/new/db.sqlite"]
    # a secret that is not a URL is never rewritten (nor shown)
    assert doc.get("ldap", "password") == ["/srv/lab/old/secret"]
    assert "root /srv/lab/old/ -> /srv/lab/new" in settings_of(result)[
        "[fernet_tokens] key_repository"].reasons


def test_glance_run_time_groups_are_kept() -> None:
    from sidebyside.config.ini import dynamic_groups

    doc = Document.parse("[DEFAULT]\nenabled_backends = fast:rbd, cheap:file\n"
                         "[fast]\nrbd_store_pool = images\n"
                         "[os_glance_staging_store]\nfilesystem_store_datadir = /s/\n"
                         "[made_up]\nx = 1\n")
    assert dynamic_groups(doc) == ["fast", "cheap", "os_glance_staging_store"]
    result = translate_document(doc, path="g", service="glance",
                                new=metadata("glance", "2025.1"))
    s = settings_of(result)
    assert s["[fast] rbd_store_pool"].outcome == KEPT
    assert s["[os_glance_staging_store] filesystem_store_datadir"].outcome == KEPT
    assert s["[made_up] x"].outcome == UNKNOWN


def _meta(release: str, options: list[dict]) -> ReleaseMetadata:  # type: ignore[type-arg]
    import yaml

    from sidebyside.config.metadata import parse_metadata

    return parse_metadata(yaml.safe_dump({"options": {"g": {"opts": options}}}),
                          service="s", release=release)


def test_a_rename_in_an_intermediate_release_is_followed() -> None:
    # a -> b in 2025.1 (a listed as b's old name), then 2026.1 drops the alias
    old = _meta("2024.1", [{"name": "a", "type": "string value", "default": None}])
    via = _meta("2025.1", [{"name": "b", "type": "string value", "default": None,
                            "deprecated_opts": [{"group": "g", "name": "a"}]}])
    new = _meta("2026.1", [{"name": "b", "type": "string value", "default": None}])
    doc = Document.parse("[g]\na = 1\n")
    result = translate_document(doc, path="s", service="s", new=new, old=old, via=[via])
    assert doc.get("g", "b") == ["1"]
    assert result.settings[0].outcome == RENAMED
    assert "2025.1 metadata" in result.settings[0].reasons[0]
    # without the intermediate release nothing says where `a` went: removed as gone
    doc = Document.parse("[g]\na = 1\n")
    result = translate_document(doc, path="s", service="s", new=new, old=old)
    assert result.settings[0].outcome == REMOVED


def test_a_compute_pin_the_old_file_sets_is_kept_and_none_is_added() -> None:
    doc = Document.parse("[upgrade_levels]\ncompute = 2025.1\n", path="nova.conf")
    result = translate_document(doc, path="nova.conf", service="nova",
                                new=metadata("nova", "2026.1"),
                                rules=load_rules("2025.1", "2026.1", "nova"))
    assert doc.get("upgrade_levels", "compute") == ["2025.1"]
    assert not [x for x in result.settings if x.outcome == ADDED]
    # and only nova's files get one
    other = Document.parse("[DEFAULT]\ndebug = true\n", path="glance-api.conf")
    translate_document(other, path="glance-api.conf", service="glance",
                       new=metadata("glance", "2026.1"),
                       rules=load_rules("2025.1", "2026.1", "glance"))
    assert other.get("upgrade_levels", "compute") == []


def test_an_ensure_rule_needs_its_section_option_and_value() -> None:
    from sidebyside.config.rules import parse_rules

    with pytest.raises(InputError, match="ensure needs one option, its section and a value"):
        parse_rules("rules:\n  - {id: x, kind: ensure, option: compute, value: auto, "
                    "reason: r}\n", "t.yaml")
