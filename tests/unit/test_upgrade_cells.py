"""nova cell mappings: parsing list_cells, planning update_cell (pure)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sidebyside.errors import InputError
from sidebyside.redact import redact
from sidebyside.remote.local import LocalHost
from sidebyside.services.catalog import ServiceInfo
from sidebyside.services.catalog import service as catalog_service
from sidebyside.upgrade.cells import (
    CELL0_UUID,
    CellMapping,
    CellUpdate,
    cell_config_text,
    cells_on_endpoint,
    new_side_urls,
    parse_cell_list,
    plan_cell_updates,
    retarget_database_url,
    update_cell_argv,
    update_cell_mappings,
)
from sidebyside.upgrade.commands import CommandFailed

CELL1 = "2f3a0c3e-6b1c-4f7e-9d47-3e1f1a2b3c4d"
OLD = "mysql+pymysql://nova:old|pw@127.0.0.11:13306"


def _table(rows: list[list[str]]) -> str:
    header = ["Name", "UUID", "Transport URL", "Database Connection", "Disabled"]
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(5)]
    border = "+" + "+".join("-" * w for w in widths) + "+"

    def line(cells: list[str]) -> str:
        return "|" + "|".join(c.center(w) for c, w in zip(cells, widths, strict=True)) + "|"

    return "\n".join([border, line(header), border, *map(line, rows), border])


LIST_OUTPUT = _table([
    ["cell0", CELL0_UUID, "none:///", f"{OLD}/nova_cell0", "False"],
    ["cell1", CELL1, "rabbit://guest:guest@old-ctl1:5672/", f"{OLD}/nova?charset=utf8", "False"],
])


def test_parse_list_cells_with_a_pipe_in_the_password() -> None:
    cells = parse_cell_list("some warning line\n" + LIST_OUTPUT)
    assert [c.name for c in cells] == ["cell0", "cell1"]
    assert cells[0].is_cell0 and not cells[1].is_cell0
    assert cells[0].database_url == f"{OLD}/nova_cell0"
    assert cells[1].transport_url == "rabbit://guest:guest@old-ctl1:5672/"
    assert cells[1].disabled is False
    # the parsed passwords are registered for redaction
    assert "old|pw" not in redact(f"x {OLD} y")


def test_parse_rejects_output_without_a_table() -> None:
    with pytest.raises(ValueError):
        parse_cell_list("ERROR: could not access the API database")


def test_plan_points_every_cell_at_the_new_server_keeping_database_names() -> None:
    cells = parse_cell_list(LIST_OUTPUT)
    new_db = "mysql+pymysql://nova:newpw@127.0.0.12:13306/nova?charset=utf8"
    updates = plan_cell_updates(cells, database_url=new_db,
                                transport_url="rabbit://guest:guest@new-ctl1:5672/")
    by_name = {u.name: u for u in updates}
    assert by_name["cell0"].database_url == \
        "mysql+pymysql://nova:newpw@127.0.0.12:13306/nova_cell0?charset=utf8"
    # cell0 has no broker: none:/// stays, and is passed explicitly (nova-manage would
    # otherwise fill in nova.conf's transport_url)
    assert by_name["cell0"].transport_url == "none:///"
    assert by_name["cell0"].changed == ("database",)
    assert by_name["cell1"].database_url == new_db
    assert by_name["cell1"].transport_url == "rabbit://guest:guest@new-ctl1:5672/"
    assert by_name["cell1"].changed == ("database", "transport")


def test_plan_is_empty_once_in_place() -> None:
    new_db = "mysql+pymysql://nova:pw@10.0.0.2/nova"
    cells = [CellMapping("cell0", CELL0_UUID, "none:///", "mysql+pymysql://nova:pw@10.0.0.2/nova_cell0"),
             CellMapping("cell1", CELL1, "rabbit://r@new:5672/", new_db)]
    assert plan_cell_updates(cells, database_url=new_db, transport_url="rabbit://r@new:5672/") == []


def test_old_endpoint_detection_uses_the_default_port() -> None:
    cells = [CellMapping("cell1", CELL1, "rabbit://x@h/", "mysql+pymysql://n:p@db-old/nova"),
             CellMapping("cell2", "u2", "rabbit://x@h2/", "mysql+pymysql://n:p@db-new:3307/nova2")]
    assert [c.name for c in cells_on_endpoint(cells, [("db-old", 3306)])] == ["cell1"]
    assert cells_on_endpoint(cells, [("db-old", 3307)]) == []


def test_retarget_refuses_a_url_without_database() -> None:
    with pytest.raises(ValueError):
        retarget_database_url("mysql+pymysql://n:p@old/", "mysql+pymysql://n:p@new/nova")


def test_new_side_urls_from_nova_conf() -> None:
    conf = ("[DEFAULT]\ntransport_url = rabbit://guest:pw1234@new:5672/\n"
            "[database]\nconnection = mysql+pymysql://nova:pw5678@new/nova\n"
            "[api_database]\nconnection = mysql+pymysql://nova:pw5678@new/nova_api\n")
    db, transport = new_side_urls(conf, "nova.conf")
    assert db.endswith("@new/nova") and transport == "rabbit://guest:pw1234@new:5672/"
    with pytest.raises(InputError, match=r"\[database\] connection"):
        new_side_urls("[DEFAULT]\n", "new-ctl1:/etc/nova/nova.conf")


def test_new_side_urls_read_as_oslo_config_does_and_never_echo_a_bad_line() -> None:
    conf = ('[Database]\nconnection = "mysql+pymysql://nova:pw5678@new/nova"\n'
            "[DEFAULT]\ntransport_url = rabbit://a:b@new:5672/\n")
    assert new_side_urls(conf, "nova.conf")[0] == "mysql+pymysql://nova:pw5678@new/nova"
    with pytest.raises(InputError, match="nova.conf: cannot be parsed") as caught:
        new_side_urls("[database]\nhunter2 pasted alone\n", "nova.conf")
    assert "hunter2" not in caught.value.message


# --- update_cell without secrets on the command line --------------------------------

NEW_DB = "mysql+pymysql://nova:n3w$ecret@127.0.0.12:13306/nova?charset=utf8"
NEW_MQ = "rabbit://openstack:mq-pa55@127.0.2.12:5672/"
UPDATE_TEMPLATE = ["/opt/bin/nova-manage", "--config-file", "/etc/nova/nova.conf",
                   "cell_v2", "update_cell", "--cell_uuid", CELL1]


def _update(transport: str = NEW_MQ, database: str = NEW_DB) -> CellUpdate:
    return CellUpdate(uuid=CELL1, name="cell1", database_url=database,
                      transport_url=transport, changed=("database", "transport"))


def test_update_cell_argv_carries_the_private_file_and_no_url() -> None:
    argv = update_cell_argv(UPDATE_TEMPLATE, "/tmp/sbs-cells.x/cell.conf", _update())
    assert argv == ["/opt/bin/nova-manage", "--config-file", "/etc/nova/nova.conf",
                    "--config-file", "/tmp/sbs-cells.x/cell.conf",
                    "cell_v2", "update_cell", "--cell_uuid", CELL1]
    assert not any("n3w" in word or "mq-pa55" in word for word in argv)


def test_update_cell_argv_puts_only_the_none_transport_on_the_command_line() -> None:
    argv = update_cell_argv(UPDATE_TEMPLATE, "/d/cell.conf", _update(transport="none:///"))
    assert argv[-2:] == ["--transport-url", "none:///"]
    assert not any("n3w" in word for word in argv)


def test_update_cell_argv_refuses_a_template_without_config_file() -> None:
    with pytest.raises(InputError, match="--config-file"):
        update_cell_argv(["nova-manage", "cell_v2", "update_cell"], "/d/c.conf", _update())


def test_cell_config_text_quotes_and_escapes_for_oslo_config() -> None:
    text = cell_config_text(_update())
    # `$` doubled (oslo.config substitutes $name), the value quoted (one pair stripped)
    assert 'connection = "mysql+pymysql://nova:n3w$$ecret@127.0.0.12:13306/nova?charset=utf8"' \
        in text.splitlines()
    assert f'transport_url = "{NEW_MQ}"' in text.splitlines()
    assert text.index("[database]") < text.index("connection")
    assert text.index("[DEFAULT]") < text.index("transport_url")


def test_cell_config_text_leaves_out_a_none_transport() -> None:
    text = cell_config_text(_update(transport="none:///"))
    assert "transport_url" not in text and "[database]" in text


@pytest.mark.parametrize("url", ["mysql://n:a\\$b@h/nova", "mysql://n:a\nb@h/nova"])
def test_cell_config_text_refuses_what_oslo_config_cannot_read_back(url: str) -> None:
    with pytest.raises(ValueError):
        cell_config_text(_update(database=url))


FAKE_NOVA_MANAGE = r'''#!{python}
"""Stands in for nova-manage: list_cells prints the cells in {state}; update_cell
records its argv and how its config files are protected, and applies the last file."""
import configparser, json, os, stat, sys
state_path, record_path = {state!r}, {record!r}
cells = json.load(open(state_path))
args = sys.argv[1:]
files = [args[i + 1] for i, a in enumerate(args) if a == "--config-file"]
if "list_cells" in args:
    rows = [[c["name"], c["uuid"], c["transport"], c["db"], "False"] for c in cells]
    header = ["Name", "UUID", "Transport URL", "Database Connection", "Disabled"]
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(5)]
    border = "+" + "+".join("-" * w for w in widths) + "+"
    line = lambda r: "|" + "|".join(c.center(w) for c, w in zip(r, widths)) + "|"
    print("\n".join([border, line(header), border, *map(line, rows), border]))
    sys.exit(0)
private = files[-1]
record = {{"argv": sys.argv, "file_mode": stat.S_IMODE(os.stat(private).st_mode),
          "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(private)).st_mode),
          "private": private}}
with open(record_path, "a") as out:
    out.write(json.dumps(record) + "\n")
if os.environ.get("FAIL_UPDATE") or os.path.exists(state_path + ".fail"):
    sys.exit(2)
conf = configparser.ConfigParser(interpolation=None)
conf.read(private)
uuid = args[args.index("--cell_uuid") + 1]
for cell in cells:
    if cell["uuid"] == uuid:
        cell["db"] = conf["database"]["connection"].strip('"').replace("$$", "$")
        if conf.has_option("DEFAULT", "transport_url"):
            cell["transport"] = conf["DEFAULT"]["transport_url"].strip('"')
        if "--transport-url" in args:
            cell["transport"] = args[args.index("--transport-url") + 1]
json.dump(cells, open(state_path, "w"))
'''


def _fake_nova(tmp_path: Path) -> tuple[ServiceInfo, Path, Path]:
    state, record = tmp_path / "cells.json", tmp_path / "record.jsonl"
    state.write_text(json.dumps([
        {"name": "cell0", "uuid": CELL0_UUID, "transport": "none:///", "db": f"{OLD}/nova_cell0"},
        {"name": "cell1", "uuid": CELL1, "transport": "rabbit://guest:old-mq@old:5672/",
         "db": f"{OLD}/nova?charset=utf8"}]))
    script = tmp_path / "bin" / "nova-manage"
    script.parent.mkdir()
    script.write_text(FAKE_NOVA_MANAGE.format(python=sys.executable, state=str(state),
                                              record=str(record)))
    script.chmod(0o755)
    info = catalog_service("nova")
    return info, state, record


def test_update_cell_mappings_keeps_passwords_out_of_argv_and_cleans_up(tmp_path: Path) -> None:
    info, state, record = _fake_nova(tmp_path)
    logged: list[str] = []
    result = update_cell_mappings(
        LocalHost(), info, str(tmp_path / "bin"), str(tmp_path / "etc"),
        database_url=NEW_DB, transport_url=NEW_MQ,
        old_databases=[("127.0.0.11", 13306)], log=logged.append)
    assert len(result.updates) == 2
    runs = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(runs) == 2
    for run in runs:
        joined = " ".join(run["argv"])
        assert "n3w" not in joined and "mq-pa55" not in joined
        assert run["file_mode"] == 0o600 and run["dir_mode"] == 0o700
        assert not Path(run["private"]).parent.exists()  # removed afterwards
    cells = {c["name"]: c for c in json.loads(state.read_text())}
    assert cells["cell1"]["db"] == NEW_DB and cells["cell1"]["transport"] == NEW_MQ
    assert cells["cell0"]["transport"] == "none:///"
    assert cells["cell0"]["db"].endswith("/nova_cell0?charset=utf8")
    # list_cells --verbose printed every password: none reached the log
    text = "\n".join(logged)
    assert "old|pw" not in text and "old-mq" not in text and "n3w$ecret" not in text


def test_update_cell_mappings_removes_the_private_dir_when_nova_manage_fails(
        tmp_path: Path) -> None:
    info, state, record = _fake_nova(tmp_path)
    Path(str(state) + ".fail").write_text("")
    with pytest.raises(CommandFailed, match="exited 2"):
        update_cell_mappings(LocalHost(), info, str(tmp_path / "bin"), str(tmp_path / "etc"),
                             database_url=NEW_DB, transport_url=NEW_MQ,
                             old_databases=[("127.0.0.11", 13306)], log=lambda _: None)
    runs = [json.loads(line) for line in record.read_text().splitlines()]
    assert runs and not Path(runs[0]["private"]).parent.exists()
