"""The docs that are generated from the template stay in step with it."""

from __future__ import annotations

import importlib.util

from conftest import TEMPLATE


def test_options_table_matches_cookiecutter_json():
    spec = importlib.util.spec_from_file_location("options_table", TEMPLATE / "docs" / "options_table.py")
    assert spec and spec.loader
    options_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(options_table)
    assert options_table.OPTIONS_DOC.read_text(encoding="utf-8") == options_table.render(), (
        "docs/options.md is stale: run `python docs/options_table.py`"
    )
