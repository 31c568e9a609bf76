"""The docs that are generated from the template stay in step with it."""

from __future__ import annotations

import importlib.util
import json
import re

from conftest import TEMPLATE


def test_options_table_matches_cookiecutter_json():
    spec = importlib.util.spec_from_file_location("options_table", TEMPLATE / "docs" / "options_table.py")
    assert spec and spec.loader
    options_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(options_table)
    assert options_table.OPTIONS_DOC.read_text(encoding="utf-8") == options_table.render(), (
        "docs/options.md is stale: run `python docs/options_table.py`"
    )


def test_the_questionnaire_asks_exactly_one_question_per_option():
    text = (TEMPLATE / "docs" / "RequirementsQuestionnaire.md").read_text(encoding="utf-8")
    asked = re.findall(r"\[`(\w+)`\]", text)
    options = [
        key for key in json.loads((TEMPLATE / "cookiecutter.json").read_text()) if not key.startswith("_")
    ]
    assert sorted(asked) == sorted(options)
