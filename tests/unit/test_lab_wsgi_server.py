"""The lab's WSGI server picks the first application that imports."""

from __future__ import annotations

import collections
import json

import pytest

from sidebyside.lab.wsgi_server import load_application


def test_first_importable_application_wins() -> None:
    assert load_application(["no_such_module_xyz:application", "json:dumps"]) is json.dumps


def test_trailing_parentheses_call_a_factory() -> None:
    app = load_application(["no_such_module_xyz:app", "collections:OrderedDict()"])
    assert isinstance(app, collections.OrderedDict)


def test_nothing_importable_names_every_attempt() -> None:
    with pytest.raises(SystemExit, match="(?s)no_such_a.*no_such_b"):
        load_application(["no_such_a:app", "no_such_b:app()"])
