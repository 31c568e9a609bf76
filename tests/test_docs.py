"""The docs that are generated from the template stay in step with it."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess

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


def test_docs_name_only_releases_that_exist():
    """Releases are CHANGELOG headings; a `vX.Y.Z` in a doc must be a real tag of this repository."""
    listed = subprocess.run(["git", "tag"], cwd=TEMPLATE, capture_output=True, text=True, check=False)
    tags = set(listed.stdout.split())
    docs = [TEMPLATE / "README.md", TEMPLATE / "CHANGELOG.md", *(TEMPLATE / "docs").glob("*.md")]
    docs += (TEMPLATE / "{{cookiecutter.project_slug}}").rglob("*.md")
    texts = {doc.relative_to(TEMPLATE).as_posix(): doc.read_text(encoding="utf-8") for doc in docs}
    named = {(name, tag) for name, text in texts.items() for tag in re.findall(r"\bv\d+\.\d+\.\d+\b", text)}
    assert {(name, tag) for name, tag in named if tag not in tags} == set()
    headings = set(re.findall(r"^## (\d+\.\d+\.\d+)$", texts["CHANGELOG.md"], re.MULTILINE))
    searched = {version for text in texts.values() for version in re.findall(r"-S '## ([\d.]+)'", text)}
    assert searched and searched <= headings
