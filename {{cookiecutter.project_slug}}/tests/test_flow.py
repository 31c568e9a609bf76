"""The flow is plain Python: called directly it answers offline, and Prompt Flow runs the same code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiops_platform.engines import RunRequest
from aiops_platform.engines.promptflow import PromptFlowEngine
from aiops_platform.flow_entry import load_entry
from aiops_platform.prompts import project_variables, render_chat

FLOW = Path(__file__).resolve().parents[1] / "flows" / {{ cookiecutter.flow_kind | jsonify }}
{%- if cookiecutter.flow_kind == 'qa' %}
LINE = {
    "question": "Who signs the calibration report?",
    "context": "The calibration report is signed by the laboratory head. Copies are kept for five years.",
}
EXPECTED = {"answer": "The calibration report is signed by the laboratory head."}
{%- elif cookiecutter.flow_kind == 'chat' %}
CONTEXT = "Balances are checked daily by the operator. Pipettes are checked weekly by the laboratory."
EARLIER = [{"inputs": {"question": "How often are pipettes checked?"}, "outputs": {"answer": "Weekly."}}]
LINE = {"question": "Who are they checked by?", "context": CONTEXT, "chat_history": EARLIER}
EXPECTED = {"answer": "Pipettes are checked weekly by the laboratory."}
{%- else %}
LINE = {"question": "{{ 'What is the shelf life?' if cookiecutter.use_case_code == 'CMC' else 'How long are retained samples stored?' }}"}
EXPECTED_ANSWER = "{{ 'The shelf life is 36 months when stored below 25 degrees Celsius.' if cookiecutter.use_case_code == 'CMC' else 'Retained samples are stored for one year after the expiry date of the batch.' }}"
{%- endif %}


def test_prompt_renders_system_and_user_messages():
    """The mechanism, not the wording: teams edit the shipped prompts."""
    messages = render_chat(FLOW / {{ (cookiecutter.flow_kind ~ '.jinja2') | jsonify }}, question="Q?", context="C.")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Q?" in messages[1]["content"] and "C." in messages[1]["content"]
    canary = project_variables()["canary"]  # the safety evaluator checks that no answer leaks it
    assert messages[0]["content"].count(canary) == 1


def test_every_prompt_can_name_the_project(tmp_path):
    prompt = tmp_path / "named.jinja2"
    prompt.write_text("# system:\nYou are {{ '{{' }} project_name }}, {{ '{{' }} project_description }}\n# user:\nQ\n")
    system, _ = render_chat(prompt)
    answers = project_variables()  # from aiops.yaml
    name_line, *_ = system["content"].splitlines()
    assert name_line == f"You are {answers['project_name']}, {answers['project_description']}"
    assert system["content"].count(answers["canary"]) == 1  # the platform adds it to a prompt without it
{%- if cookiecutter.flow_kind == 'rag' %}


def test_flow_answers_from_the_retrieved_documents_and_returns_them():
    result = load_entry(FLOW)(**LINE)
    assert result["answer"] == EXPECTED_ANSWER
    assert EXPECTED_ANSWER in result["context"]  # what the model saw is returned for the judges
    # and chunk by chunk, best first, for the retrieval evaluator (and a caller's citations)
    assert [chunk["text"] for chunk in result["retrieved"]] == result["context"].split("\n\n")
    assert all(chunk["id"].startswith(f"{chunk['source']}#") for chunk in result["retrieved"])


def test_top_k_bounds_the_retrieved_context():
    flow = load_entry(FLOW)
    one, three = flow(question="batch", top_k=1), flow(question="batch", top_k=3)  # a word most chunks have
    assert len(one["context"].split("\n\n")) == 1 and len(three["context"].split("\n\n")) == 3
{%- else %}


def test_flow_answers_from_the_context():
    assert load_entry(FLOW)(**LINE) == EXPECTED
{%- endif %}
{%- if cookiecutter.flow_kind == 'chat' %}


def test_earlier_turns_decide_what_a_follow_up_refers_to():
    without_history = load_entry(FLOW)(**{**LINE, "chat_history": []})
    # "they" could be either: the offline model does not answer on one shared word ("checked")
    assert without_history == {"answer": "I don't know based on the provided context."}


def test_the_shipped_multi_turn_dataset_needs_the_history(project_root: Path):
    rows = [json.loads(line) for line in (project_root / "data/multi_turn_qa.jsonl").read_text().splitlines()]
    flow = load_entry(FLOW)

    def answers_right(history: bool) -> list[bool]:
        turns = [row["chat_history"] if history else [] for row in rows]
        outputs = [flow(row["question"], row["context"], turn) for row, turn in zip(rows, turns, strict=True)]
        return [output["answer"] == row["ground_truth"] for output, row in zip(outputs, rows, strict=True)]

    assert all(answers_right(history=True))
    assert sum(answers_right(history=False)) <= len(rows) - 2  # the two-topic follow-ups need the history


def test_history_becomes_chat_messages_and_is_capped():
    flow = load_entry(FLOW).__wrapped__.__globals__  # the flow module, under the tracing wrapper
    turns = [{"inputs": {"question": f"q{i}"}, "outputs": {"answer": f"a{i}"}} for i in range(15)]
    messages = flow["history_messages"](turns)
    assert len(messages) == 2 * flow["MAX_TURNS"]
    assert messages[:2] == [{"role": "user", "content": "q5"}, {"role": "assistant", "content": "a5"}]
{%- endif %}


@pytest.mark.promptflow
def test_prompt_flow_runs_the_same_function_to_the_same_answer(tmp_path: Path):
    data = tmp_path / "line.jsonl"
    data.write_text(json.dumps(LINE) + "\n", encoding="utf-8")
    mapping = {name: "${data." + name + "}" for name in LINE}
    engine = PromptFlowEngine(home=tmp_path / ".promptflow")
    result = engine.run(RunRequest(FLOW, data, mapping, concurrency=1), on_line=lambda: None)
    assert result.failed == 0, result.errors
    assert result.outputs == [load_entry(FLOW)(**LINE)]
