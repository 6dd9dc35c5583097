"""nova cell mappings: planning where every cell goes, reading nova.conf (pure)."""

from __future__ import annotations

import pytest

from sidebyside.errors import InputError, VerificationError
from sidebyside.redact import redact
from sidebyside.upgrade.cells import (
    CELL0_UUID,
    CellMapping,
    cells_on_endpoint,
    new_side_urls,
    plan_cell_updates,
    retarget_database_url,
    verify_cells,
)

CELL1 = "2f3a0c3e-6b1c-4f7e-9d47-3e1f1a2b3c4d"
OLD = "mysql+pymysql://nova:old|pw@127.0.0.11:13306"
CELLS = [CellMapping("cell0", CELL0_UUID, "none:///", f"{OLD}/nova_cell0"),
         CellMapping("cell1", CELL1, "rabbit://guest:guest@old-ctl1:5672/",
                     f"{OLD}/nova?charset=utf8")]


def test_plan_points_every_cell_at_the_new_server_keeping_database_names() -> None:
    cells = CELLS
    new_db = "mysql+pymysql://nova:newpw@127.0.0.12:13306/nova?charset=utf8"
    updates = plan_cell_updates(cells, database_url=new_db,
                                transport_url="rabbit://guest:guest@new-ctl1:5672/")
    by_name = {u.name: u for u in updates}
    assert by_name["cell0"].database_url == \
        "mysql+pymysql://nova:newpw@127.0.0.12:13306/nova_cell0?charset=utf8"
    # cell0 has no broker: none:/// stays
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
    db, transport, api = new_side_urls(conf, "nova.conf")
    assert db.endswith("@new/nova") and transport == "rabbit://guest:pw1234@new:5672/"
    assert api == "nova_api"
    renamed = conf.replace("/nova_api", "/cloud_api")
    assert new_side_urls(renamed, "nova.conf")[2] == "cloud_api"
    # every password read is masked wherever it would be logged
    assert "pw1234" not in redact("rabbit://guest:pw1234@new:5672/")
    with pytest.raises(InputError, match=r"\[database\] connection"):
        new_side_urls("[DEFAULT]\n", "new-ctl1:/etc/nova/nova.conf")


def test_new_side_urls_read_as_oslo_config_does_and_never_echo_a_bad_line() -> None:
    conf = ('[Database]\nconnection = "mysql+pymysql://nova:pw5678@new/nova"\n'
            "[DEFAULT]\ntransport_url = rabbit://a:b@new:5672/\n")
    assert new_side_urls(conf, "nova.conf")[0] == "mysql+pymysql://nova:pw5678@new/nova"
    with pytest.raises(InputError, match="nova.conf: cannot be parsed") as caught:
        new_side_urls("[database]\nhunter2 pasted alone\n", "nova.conf")
    assert "hunter2" not in caught.value.message


def test_verify_refuses_a_cell_left_on_the_old_server() -> None:
    new_db = "mysql+pymysql://nova:pw@10.0.0.2/nova"
    with pytest.raises(VerificationError, match="cell1 still point at an old database"):
        verify_cells([CellMapping("cell1", CELL1, "rabbit://r@new:5672/",
                                  "mysql+pymysql://nova:pw@127.0.0.11:13306/nova")],
                     database_url=new_db, transport_url="rabbit://r@new:5672/",
                     old_databases=[("127.0.0.11", 13306)])
