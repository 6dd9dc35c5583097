"""Lossless oslo.config INI documents: round-trip, parse semantics, edits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidebyside.config.ini import ConfigSet, Document, Entry
from sidebyside.errors import InputError

DATA = Path(__file__).parent.parent / "data" / "config"
SAMPLES = sorted((DATA / "samples").glob("*.conf"))
NASTY = DATA / "nasty.conf"


def activate(sample: str) -> str:
    """The generator's sample with every option line uncommented: a real file that
    sets every option (multi-valued ones included) to its sample value."""
    return re.sub(r"(?m)^#(?=[A-Za-z_][\w.-]* = )", "", sample)


def test_the_real_samples_of_two_releases_are_here() -> None:
    names = {p.name for p in SAMPLES}
    for service in ("keystone", "glance", "nova"):
        assert {f"{service}-2024.1.conf", f"{service}-2025.1.conf"} <= names


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_generated_samples_round_trip_byte_identical(sample: Path) -> None:
    data = sample.read_bytes()
    assert Document.parse(data).to_bytes() == data


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_samples_with_every_option_set_round_trip_and_parse_every_option(sample: Path) -> None:
    text = activate(sample.read_text())
    document = Document.parse(text)
    assert document.render() == text
    option_lines = re.findall(r"(?m)^[A-Za-z_][\w.-]* = ", text)
    assert len(list(document.iter_entries())) == len(option_lines) > 100
    assert document.problems == []
    assert "DEFAULT" in document.section_names()


def test_nasty_file_round_trips_byte_identical() -> None:
    data = NASTY.read_bytes()
    document = Document.parse(data)
    assert document.to_bytes() == data
    assert not data.endswith(b"\n")


def test_nasty_file_parses_as_oslo_config_does() -> None:
    document = Document.parse(NASTY.read_bytes())
    assert document.get("DEFAULT", "debug") == ["True"]
    assert document.get("DEFAULT", "log_dir") == ["/var/log/nova"]
    assert document.get("DEFAULT", "verbose") == ["yes"]  # ':' separates too
    assert document.get("DEFAULT", "url") == ["http://h:1/a=b:c"]  # the first of = and :
    assert document.get("DEFAULT", "quoted") == ["  spaced  "]
    assert document.get("DEFAULT", "single") == ["x"]
    assert document.get("DEFAULT", "mismatched") == ["\"x'"]
    assert document.get("DEFAULT", "empty") == [""]
    assert document.get("DEFAULT", "multi") == [
        "first\nsecond line (tab)\n# an indented comment is part of the value"]
    # repeated key, and a second [DEFAULT] block merging into the first
    assert document.get("DEFAULT", "multi_valued") == ["a", "b", "c"]
    assert document.get_one("DEFAULT", "multi_valued") == "c"
    assert document.get("DEFAULT", "crlf") == ["yes"]
    assert document.get("database", "connection") == [
        "mysql://nova:p%40ss@db/nova?charset=utf8"]
    assert document.get("database", "utf8") == ["café"]
    assert document.get("keystone_authtoken", "auth_uri") == ["http://old:5000/"]
    assert document.get("last", "no_final_newline") == ["1"]
    assert document.section_names() == ["DEFAULT", "database", "Keystone_AuthToken", "last"]
    problems = [(section, problem) for section, problem, _ in document.problems]
    assert problems == [
        ("database", "no ':' or '=' found in assignment"),
        ("Keystone_AuthToken", "key cannot be empty"),
        ("Keystone_AuthToken", "empty section name"),
        ("Keystone_AuthToken", "invalid section (must end with ])"),
    ]


def test_strict_parse_names_file_and_line() -> None:
    with pytest.raises(InputError, match=r"nasty.conf:23: no ':' or '='"):
        Document.parse(NASTY.read_bytes(), path="nasty.conf", strict=True)
    with pytest.raises(InputError, match="before any section"):
        Document.parse("key = 1\n", path="x.conf", strict=True)
    with pytest.raises(InputError, match="unexpected continuation"):
        Document.parse("[a]\n\n  cont\n", strict=True)


def _entry(document: Document, section: str, key: str) -> Entry:
    return document.find(section, key)[0][1]


def test_set_value_rewrites_only_that_line_and_keeps_its_separator() -> None:
    data = NASTY.read_bytes()
    document = Document.parse(data)
    document.set_value(_entry(document, "DEFAULT", "log_dir"), "/srv/log")
    document.set_value(_entry(document, "DEFAULT", "crlf"), "no")
    out = document.to_bytes()
    assert b"log_dir   =    /srv/log\n" in out
    assert b"crlf = no\r\n" in out  # the line keeps its own CRLF
    assert out.replace(b"log_dir   =    /srv/log\n", b"log_dir   =    /var/log/nova   \n") \
        .replace(b"crlf = no\r\n", b"crlf = yes\r\n") == data


def test_values_that_oslo_would_strip_are_quoted() -> None:
    document = Document.parse("[a]\nx = 1\n")
    for value in ("  padded ", '"quoted"', "'", "plain", "", "multi\nline"):
        document.set("a", "x", value)
        assert Document.parse(document.render()).get("a", "x") == [value]


def test_set_replaces_every_occurrence_and_set_all_keeps_position() -> None:
    document = Document.parse("[DEFAULT]\nm = a\nother = 1\nm = b\n")
    document.set_all("DEFAULT", "m", ["x", "y", "z"])
    assert document.render() == "[DEFAULT]\nm = x\nm = y\nm = z\nother = 1\n"
    document.set("DEFAULT", "m", "only")
    assert document.render() == "[DEFAULT]\nm = only\nother = 1\n"


def test_add_goes_before_the_blank_lines_and_creates_missing_sections() -> None:
    document = Document.parse("[a]\nx = 1\n\n[b]\ny = 2")
    document.add("a", "new", "v")
    document.add("b", "z", "3")
    document.add("c", "k", "w")
    assert document.render() == "[a]\nx = 1\nnew = v\n\n[b]\ny = 2\nz = 3\n\n[c]\nk = w\n"


def test_rename_keeps_value_text_and_spacing() -> None:
    document = Document.parse("[cache]\nmemcache_socket_timeout   =  5\n")
    document.rename(_entry(document, "cache", "memcache_socket_timeout"), "socket_timeout")
    assert document.render() == "[cache]\nsocket_timeout   =  5\n"


def test_move_carries_the_raw_lines_to_the_other_section() -> None:
    document = Document.parse("[DEFAULT]\nold = a\n  b\nkeep = 1\n\n[new]\nz = 0\n")
    entry = _entry(document, "DEFAULT", "old")
    document.move(entry, "new", "renamed")
    assert document.render() == "[DEFAULT]\nkeep = 1\n\n[new]\nz = 0\nrenamed = a\n  b\n"
    assert document.get("new", "renamed") == ["a\nb"]
    assert document.section_of(entry).name == "new"


def test_remove_leaves_a_comment_with_the_reason() -> None:
    document = Document.parse("[DEFAULT]\ngone = 1\nsecret = hunter22\nlast = x")
    document.remove(_entry(document, "DEFAULT", "gone"), reason="not an option\nany more")
    document.remove(_entry(document, "DEFAULT", "secret"), reason="gone", keep_value=False)
    document.remove(_entry(document, "DEFAULT", "last"), reason="bye")
    text = document.render()
    assert text == ("[DEFAULT]\n# sbs removed 'gone' because not an option any more\n"
                    "#gone = 1\n"
                    "# sbs removed 'secret' because gone\n"
                    "# (the secret value of 'secret' is not kept here)\n"
                    "# sbs removed 'last' because bye\n#last = x")
    assert "hunter22" not in text
    assert Document.parse(text).get("DEFAULT", "gone") == []


def test_remove_without_reason_drops_the_lines() -> None:
    document = Document.parse("[a]\nx = 1\ny = 2\n")
    document.remove(_entry(document, "a", "x"))
    assert document.render() == "[a]\ny = 2\n"


def test_section_names_compare_like_oslo_config() -> None:
    document = Document.parse("[Database]\nconnection = x\n[default]\nk = 1\n")
    assert document.get("database", "connection") == ["x"]
    assert document.get("DEFAULT", "k") == []  # only DEFAULT is case-sensitive
    assert document.get("default", "k") == ["1"]


def test_config_dir_drop_ins_merge_in_oslo_order() -> None:
    order = ConfigSet.drop_in_order(["/e/n.conf.d/20-b.conf", "/e/n.conf.d/10-a.conf",
                                     "/e/n.conf.d/README", "/e/n.conf.d/05.conf.bak"])
    assert order == ["/e/n.conf.d/10-a.conf", "/e/n.conf.d/20-b.conf"]
    main = Document.parse("[DEFAULT]\ndebug = false\nm = 1\n", path="nova.conf")
    first = Document.parse("[DEFAULT]\ndebug = true\nm = 2\n", path=order[0])
    second = Document.parse("[database]\nx = y\n", path=order[1])
    config = ConfigSet([main, first, second])
    assert config.effective("DEFAULT", "debug") == "true"
    assert config.values("DEFAULT", "m") == ["1", "2"]
    assert config.origin("DEFAULT", "debug") is first
    assert config.effective("database", "x") == "y"
    assert config.effective("database", "missing") is None


# ---- properties ----------------------------------------------------------------

_ATOMS = st.sampled_from([
    "[DEFAULT]", "[sec]", "[", "]", "key", "k2", " = ", "=", ":", " ", "\t", "#", ";",
    "\n", "\r\n", "\r", "'", '"', "value", "é", "\udcff", "[]", "  ", "x=y:z"])
_TEXT = st.lists(_ATOMS, max_size=60).map("".join) | st.text(max_size=200)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_any_text_round_trips(text: str) -> None:
    assert Document.parse(text).render() == text


_KEY = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
_VALUE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["DEFAULT", "a", "b"]), _KEY, _VALUE),
                min_size=1, max_size=12))
def test_values_set_through_the_api_read_back_the_same(
        items: list[tuple[str, str, str]]) -> None:
    document = Document.parse("# generated\n")
    expected: dict[tuple[str, str], str] = {}
    for section, key, value in items:
        try:
            document.set(section, key, value)
        except InputError:
            # refused only when oslo.config could not read it back as given
            lines = value.split("\n")
            assert "\r" in value or (len(lines) > 1 and any(
                not line.strip() or line != line.strip() for line in lines))
            continue
        expected[(section, key)] = value
    reparsed = Document.parse(document.render(), strict=True)
    for (section, key), value in expected.items():
        assert reparsed.get(section, key) == [value]
    assert reparsed.render() == document.render()
