"""The QA flow is a plain function: called directly, it renders its prompt and answers offline."""

from __future__ import annotations

from pathlib import Path

from {{ cookiecutter.package_name }}.engines.inprocess import load_entry
from {{ cookiecutter.package_name }}.prompts import render_chat


def test_prompt_renders_system_and_user_messages(project_root: Path):
    messages = render_chat(project_root / "flows/qa/qa.jinja2", question="Q?", context="C.")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].endswith("Question: Q?")
    assert "C." in messages[1]["content"]


def test_flow_answers_from_the_context(project_root: Path):
    answer_question = load_entry(project_root / "flows/qa")
    result = answer_question(
        question="Who must review batch records?",
        context="Batch records must be reviewed by QA. Any open deviation blocks release.",
    )
    assert result == {"answer": "Batch records must be reviewed by QA."}
