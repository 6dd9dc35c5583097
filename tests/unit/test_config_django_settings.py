"""Django settings files (horizon's local_settings.py): read with ast, never run,
rewritten by byte spans; the per-setting report masks secrets."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidebyside.config.django_settings import (
    REVIEW,
    SettingRule,
    load_settings_rules,
    parse_settings_rules,
    translate_settings,
)
from sidebyside.config.metadata import service_spec
from sidebyside.config.rules import rule_files
from sidebyside.config.translate import KEPT, REMOVED, RENAMED
from sidebyside.errors import InputError
from sidebyside.redact import forget_secrets

FIXTURES = Path(__file__).parent.parent / "data" / "config" / "horizon"


def _rule(kind: str, setting: str, *, to: str | None = None,
          value_contains: str | None = None) -> SettingRule:
    return SettingRule(id=f"test-{kind}", kind=kind, setting=setting, reason="because",
                       note="releasenotes/notes/test.yaml", source="test", to=to,
                       value_contains=value_contains)


def _translate(text: str, *rules: SettingRule, path: str = "local_settings.py"):  # type: ignore[no-untyped-def]
    return translate_settings(text.encode(), path=path, service="horizon",
                              from_release="2023.1", to_release="2026.1", rules=rules)


_LINES = st.sampled_from([
    "DEBUG = False\n", "# a comment\n", "\n", "   \n", "X = {\n    'a': 1,  # why\n}\n",
    "X.update({'b': 2})\n", "X['c'] = 3\n", "Y: int = 4\n", "A = B = 'é'\n",
    "from local_settings_base import *  # noqa\n", "if DEBUG:\n    Z = [1,\n         2]\n",
    "S = '''multi\nline'''\n", "T = (1, 2); U = 3\n", "V = 1\r\n", "W += [1]\n",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, max_size=25), st.booleans())
def test_an_untouched_file_round_trips_byte_for_byte(lines: list[str], final_newline: bool
                                                     ) -> None:
    text = "".join(lines)
    if not final_newline:
        text = text.rstrip("\n")
    result = _translate(text, _rule("remove", "NOT_THERE"), _rule("review", "DEBUG",
                                                                    value_contains="nope"))
    assert result.document.to_bytes() == text.encode()
    assert not result.changed and result.diff == ""


def test_a_rename_keeps_comments_and_neighbouring_lines() -> None:
    text = ("# before\nA = 1\nOLD_NAME = {  # keep me\n    'k': 'v',\n}\n"
            "OLD_NAME['x'] = 2\nB = OLD_NAME['k']\n# after\n")
    result = _translate(text, _rule("rename", "OLD_NAME", to="NEW_NAME"))
    new = result.document.to_bytes().decode()
    assert new == ("# before\nA = 1\n"
                   "# sbs: renamed OLD_NAME -> NEW_NAME: because "
                   "(releasenotes/notes/test.yaml; rule test-rename, test)\n"
                   "NEW_NAME = {  # keep me\n    'k': 'v',\n}\n"
                   "NEW_NAME['x'] = 2\nB = NEW_NAME['k']\n# after\n")
    report = next(s for s in result.settings if s.key == "OLD_NAME")
    assert report.outcome == RENAMED and report.new_key == "NEW_NAME"
    assert report.uses == [6]  # type: ignore[attr-defined]
    ast.parse(new)


def test_a_removal_comments_out_a_multi_line_value_whole_and_its_uses() -> None:
    text = ("A = 1\nCACHES = {\n    'default': {\n        'BACKEND': 'x',  # old\n"
            "    },\n}\nCACHES.update({'other': {}})\nB = 2\n")
    result = _translate(text, _rule("remove", "CACHES"))
    new = result.document.to_bytes().decode()
    assert new.startswith("A = 1\n# sbs: removed CACHES: because")
    assert ("# CACHES = {\n#     'default': {\n#         'BACKEND': 'x',  # old\n"
            "#     },\n# }\n") in new
    assert "# CACHES.update({'other': {}})\nB = 2\n" in new
    assert "\nCACHES" not in new
    module = ast.parse(new)
    assert [type(s).__name__ for s in module.body] == ["Assign", "Assign"]
    assert next(s for s in result.settings if s.key == "CACHES").outcome == REMOVED


def test_removing_the_only_statement_of_a_block_keeps_the_block_valid() -> None:
    text = "if True:\n    USE_L10N = True\nA = 1\n"
    new = _translate(text, _rule("remove", "USE_L10N")).document.to_bytes().decode()
    assert "    # USE_L10N = True\n    pass\nA = 1\n" in new
    ast.parse(new)


def test_a_secret_value_never_appears_in_the_report() -> None:
    forget_secrets()
    text = ("SECRET_KEY = 'sk-very-secret-1234'\nOPENSTACK_TOKEN = 'tok-abcdef'\n"
            "DATABASES = {'default': {'PASSWORD': 'db-pw-5678', 'HOST': 'db'}}\n"
            "SECRET_KEY = 'sk-very-secret-1234' + 'x'\n")
    result = _translate(text, _rule("remove", "SECRET_KEY"), _rule("review", "DATABASES"))
    shown = json.dumps(result.to_dict()) + result.diff + "".join(
        str(s) for s in result.settings)
    for secret in ("sk-very-secret-1234", "tok-abcdef", "db-pw-5678"):
        assert secret not in shown
    assert "'HOST': 'db'" in next(s for s in result.settings if s.key == "DATABASES").value
    # the file itself keeps them: only the report is masked
    assert b"db-pw-5678" in result.document.to_bytes()


def test_a_syntax_error_names_the_file_and_line() -> None:
    with pytest.raises(InputError, match=r"local_settings.py:3: not valid Python"):
        _translate("A = 1\nB = 2\nC = = 2\n")
    with pytest.raises(InputError, match=r"x.py:2: not UTF-8"):
        translate_settings(b"A = 1\nB = '\xff'\n", path="x.py", service="horizon",
                           from_release="2023.1", to_release="2026.1", rules=[])


def test_a_setting_defined_twice_is_reported_twice_and_renamed_everywhere() -> None:
    text = "OLD = 1\nOTHER = 2\nif OTHER:\n    OLD = 3\n"
    result = _translate(text, _rule("rename", "OLD", to="NEW"))
    reports = [s for s in result.settings if s.key == "OLD"]
    assert [r.line for r in reports] == [1, 4]  # type: ignore[attr-defined]
    assert all(r.outcome == RENAMED for r in reports)
    assert "assigned again on line 4" in reports[0].reasons[0]
    new = result.document.to_bytes().decode()
    assert "NEW = 1\n" in new and "    # sbs: renamed OLD -> NEW" in new and \
        "    NEW = 3\n" in new and "OLD =" not in new
    ast.parse(new)


def test_a_rename_onto_a_name_already_set_is_left_for_review() -> None:
    result = _translate("OLD = 1\nNEW = 2\n", _rule("rename", "OLD", to="NEW"))
    assert not result.changed
    assert next(s for s in result.settings if s.key == "OLD").outcome == REVIEW


def test_star_imports_and_other_code_are_kept() -> None:
    text = ("from local_settings_base import *  # noqa: F403\n\n"
            "USE_L10N = True\ndef helper():\n    return 1\n")
    new = _translate(text, _rule("remove", "USE_L10N")).document.to_bytes().decode()
    assert new.startswith("from local_settings_base import *  # noqa: F403\n\n# sbs: removed")
    assert new.endswith("# USE_L10N = True\ndef helper():\n    return 1\n")


def test_a_statement_sharing_its_line_is_flagged_not_cut() -> None:
    result = _translate("USE_L10N = True; A = 1\n", _rule("remove", "USE_L10N"))
    assert not result.changed
    assert next(s for s in result.settings if s.key == "USE_L10N").outcome == REVIEW


def test_the_fixture_from_2023_1_to_2026_1() -> None:
    forget_secrets()
    data = (FIXTURES / "local_settings.py").read_bytes()
    rules = load_settings_rules("horizon", "2023.1", "2026.1")
    result = translate_settings(data, path="/etc/openstack-dashboard/local_settings.py",
                                service="horizon", from_release="2023.1",
                                to_release="2026.1", rules=rules)
    outcomes = {s.key: s.outcome for s in result.settings}
    assert outcomes["USE_L10N"] == REMOVED
    assert outcomes["CACHES"] == REVIEW
    assert outcomes["OPENSTACK_HOST"] == KEPT
    new = result.document.to_bytes()
    ast.parse(new)
    removed = [line for line in result.diff.splitlines() if line.startswith("-")
               and not line.startswith("---")]
    assert removed == ["-USE_L10N = True   # trailing comment"]
    text = result.to_dict().__repr__() + result.diff
    assert "lab-horizon-secret" not in text and "lab-db-pass" not in text


def test_rules_files_per_transition_parse_and_cite_their_note() -> None:
    names = rule_files("2023.1", "2026.1", folder="horizon")
    assert names == ["horizon/2023.1_2023.2.yaml", "horizon/2023.2_2024.1.yaml",
                     "horizon/2024.1_2024.2.yaml", "horizon/2024.2_2025.1.yaml",
                     "horizon/2025.1_2025.2.yaml", "horizon/2025.2_2026.1.yaml"]
    assert rule_files("2025.1", "2026.1", folder="horizon") == [
        "horizon/2025.1_2025.2.yaml", "horizon/2025.2_2026.1.yaml"]
    assert rule_files("2023.1", "2026.1", folder="keystone") == []
    rules = load_settings_rules("horizon", "2023.1", "2026.1")
    assert {r.id for r in rules} >= {"horizon-use-l10n", "horizon-memcached-cache-backend"}
    assert all(r.note and r.reason for r in rules)
    with pytest.raises(InputError, match=r"t.yaml: rules\[0\]: a rename needs `to`"):
        parse_settings_rules("rules: [{id: a, kind: rename, setting: A, reason: r, "
                             "note: n}]", "t.yaml")


def test_horizon_settings_are_of_kind_django() -> None:
    spec = service_spec("horizon")
    assert [f.kind for f in spec.files] == ["django", "django"]
    assert not any(f.review for f in spec.files)


def test_translate_files_dispatches_python_files() -> None:
    from sidebyside.config.translate import translate_files

    class _New:
        release = "2026.1"

    report = translate_files({"local_settings.py": b"USE_L10N = True\n"}, service="horizon",
                             from_release="2024.2", new=_New())  # type: ignore[arg-type]
    assert report.files[0].settings[0].outcome == REMOVED


def test_migrate_carries_horizon_settings_translated(tmp_path: Path) -> None:
    """The prepare step's dispatch: local_settings.py and local_settings.d/*.py are
    translated, other files of the directory copied, owner and mode kept."""
    from sidebyside.config.migrate import Side, migrate_service_config
    from sidebyside.remote.local import LocalHost

    old, new = tmp_path / "old", tmp_path / "new"
    etc = old / "etc/openstack-dashboard"
    (etc / "local_settings.d").mkdir(parents=True)
    (etc / "local_settings.py").write_bytes((FIXTURES / "local_settings.py").read_bytes())
    (etc / "local_settings.py").chmod(0o640)
    (etc / "local_settings.d/_50_lab_theme.py").write_bytes(
        (FIXTURES / "_50_lab_theme.py").read_bytes())
    (etc / "local_settings.d/README").write_text("USE_L10N = True\n")
    host = LocalHost()
    result = migrate_service_config("horizon", "2024.2", "2025.1", old=Side(host, str(old)),
                                    new=Side(host, str(new)))
    landed = new / "etc/openstack-dashboard"
    assert b"\n# USE_L10N = True   # trailing comment\n" in \
        (landed / "local_settings.py").read_bytes()
    assert (landed / "local_settings.py").stat().st_mode & 0o777 == 0o640
    assert (landed / "local_settings.d/_50_lab_theme.py").read_bytes().endswith(
        b"# USE_L10N = False\n")
    assert (landed / "local_settings.d/README").read_text() == "USE_L10N = True\n"
    assert [f.path for f in result.report.files] == [
        "/etc/openstack-dashboard/local_settings.py",
        "/etc/openstack-dashboard/local_settings.d/_50_lab_theme.py"]
    assert result.review == []


def test_the_host_map_moves_literals_that_name_the_old_controller_only() -> None:
    from sidebyside.config.translate import HostMap

    text = ('ALLOWED_HOSTS = ["127.0.8.10", "127.0.8.11"]  # VIP and this controller\n'
            'STATIC_ROOT = "/srv/lab/old/var/lib/openstack-dashboard/static"\n'
            'OPENSTACK_HOST = "127.0.8.10"\n'
            'SECRET_KEY = "127.0.8.11-looks-like-a-host"\n'
            'NOT_A_HOST = "127.0.8.111"\n')
    host_map = HostMap(hosts={"127.0.8.11": "127.0.8.12"},
                       paths={"/srv/lab/old": "/srv/lab/new"})
    result = translate_settings(text.encode(), path="local_settings.py", service="horizon",
                                from_release="2025.1", to_release="2026.1", rules=[],
                                host_map=host_map)
    assert result.new_text == text.replace('"127.0.8.11"]', '"127.0.8.12"]').replace(
        "/srv/lab/old/", "/srv/lab/new/")
    reports = {r.key: r for r in result.settings}
    assert reports["ALLOWED_HOSTS"].reasons == ["host map 127.0.8.11 -> 127.0.8.12"]
    assert reports["ALLOWED_HOSTS"].new_value == '["127.0.8.10", "127.0.8.12"]'
    assert reports["STATIC_ROOT"].reasons == ["root /srv/lab/old -> /srv/lab/new"]
    # a secret's value is never rewritten (nor shown); a longer address is another host
    assert not reports["SECRET_KEY"].reasons and not reports["NOT_A_HOST"].reasons
    ast.parse(result.new_text)
