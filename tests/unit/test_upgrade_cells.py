"""nova cell mappings: parsing list_cells, planning update_cell (pure)."""

from __future__ import annotations

import pytest

from sidebyside.errors import InputError
from sidebyside.redact import redact
from sidebyside.upgrade.cells import (
    CELL0_UUID,
    CellMapping,
    cells_on_endpoint,
    new_side_urls,
    parse_cell_list,
    plan_cell_updates,
    retarget_database_url,
)

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
