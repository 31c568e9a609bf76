"""azure-ai-evaluation's agent evaluators behind agent_evaluators.py: skipped with one reason line
without a judge model (as an experiment reports it), the SDK's model_config from settings, and the
agent's OpenAI-style calls and tools in the input shape the SDK's own validators and converters
accept. The SDK classes are built with the network closed; one test runs them end to end against an
Azure OpenAI-shaped endpoint on loopback (only a real model gives meaningful scores)."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from aiops_platform import agent_evaluators, offline_model
from aiops_platform.agent_evaluators import AgentEvaluators, judge_model, sdk_inputs
from aiops_platform.engines import RunRequest, RunResult
from aiops_platform.engines.inprocess import InProcessEngine
from aiops_platform.fake_endpoint import FakeEndpoint, Limits
from aiops_platform.settings import Settings

ENDPOINT = "https://qa-assistant-aoai.openai.azure.com/"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_sop",
            "description": "Look up a section of an SOP or specification in the project's documents.",
            "parameters": {
                "type": "object",
                "properties": {"document": {"type": "string"}, "section": {"type": "string"}},
                "required": ["document"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "check_spec_limit",
            "description": "Check a measured value against its specification limit.",
            "parameters": {
                "type": "object",
                "properties": {"parameter": {"type": "string"}, "value": {"type": "number"}},
            },
        },
    },
]
CALLS = [  # as the openai client returns them: arguments a JSON string
    {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "check_spec_limit", "arguments": '{"parameter": "assay", "value": 98.7}'},
    }
]
QUESTION = "Is an assay of 98.7% within the specification?"
ANSWER = "Yes: assay 98.7% is within the specification limit of 95.0-105.0%."
HISTORY = [{"inputs": {"question": "Which SOP covers assay?"}, "outputs": {"answer": "SOP-QC-001."}}]


def online(**values) -> Settings:
    given = {"azure_openai_endpoint": ENDPOINT, "azure_openai_chat_deployment": "gpt-4o", **values}
    return Settings(llm_provider="auto", **given)


@pytest.fixture
def closed_network(monkeypatch):
    """Any connection attempt fails the test: constructing the evaluators must send nothing."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        (Settings(llm_provider="auto"), "set AZURE_OPENAI_ENDPOINT (environment or .env)"),
        (Settings(llm_provider="offline", azure_openai_endpoint=ENDPOINT), "LLM_PROVIDER=offline"),
        (
            online(azure_openai_endpoint="https://your-aoai-resource.openai.azure.com/"),
            "(AZURE_OPENAI_ENDPOINT): placeholder https://your-aoai-resource",
        ),
        (online(azure_openai_chat_deployment="your-deployment"), "AZURE_OPENAI_CHAT_DEPLOYMENT placeholder"),
        (online(azure_openai_auth="api_key"), "AZURE_OPENAI_AUTH=api_key needs AZURE_OPENAI_API_KEY"),
        (Settings(llm_provider="openai"), "LLM_PROVIDER=openai needs OPENAI_API_KEY"),
    ],
)
def test_without_a_real_model_the_reason_is_one_line_saying_what_to_set(settings, says):
    judge = judge_model(settings)
    assert judge.model_config is None
    assert judge.skipped.startswith("no model configured: "), judge.skipped
    assert says in judge.skipped and "\n" not in judge.skipped
    assert judge.skipped.endswith(agent_evaluators.NOT_SCORED)


def test_skipped_lines_are_reported_skipped_by_the_experiment(tmp_path: Path):
    """Under the tests' settings (LLM_PROVIDER=offline): every line says why, nothing is scored, and
    the runner lists the reason (results.json `skipped`, the report's "Skipped, not passed")."""
    from aiops_platform.runner import skip_reasons

    module = tmp_path / "agent_judges.py"
    module.write_text("from aiops_platform.agent_evaluators import AgentEvaluators\n", encoding="utf-8")
    data = tmp_path / "agent.jsonl"
    data.write_text(json.dumps({"question": QUESTION}) + "\n", encoding="utf-8")
    base = RunResult(outputs=[{"answer": ANSWER, "tool_calls": CALLS}], errors=[None], metrics={})
    mapping = {
        "question": "${data.question}",
        "answer": "${run.outputs.answer}",
        "tool_calls": "${run.outputs.tool_calls}",
    }
    request = RunRequest(
        Path(f"{module}:AgentEvaluators"), data, mapping, 1, None, base=base, labels={}, project=tmp_path
    )
    result = InProcessEngine().run(request, lambda: None)
    assert result.errors == [None]
    reason = result.outputs[0]["skipped"]
    assert result.outputs == [{"skipped": reason}] and reason.startswith("no model configured: LLM_PROVIDER")
    assert result.metrics == {}
    assert skip_reasons(result) == reason


def test_the_model_config_is_built_from_real_looking_settings():
    entra = judge_model(online())
    assert entra.model_config == {
        "type": "azure_openai",
        "azure_endpoint": ENDPOINT,
        "azure_deployment": "gpt-4o",
        "api_version": "2024-10-21",
    }
    assert entra.entra_id and not entra.skipped
    keyed = judge_model(online(azure_openai_auth="api_key", azure_openai_api_key="k" * 32))
    assert keyed.model_config == {**entra.model_config, "api_key": "k" * 32}
    assert not keyed.entra_id
    openai = judge_model(
        Settings(llm_provider="openai", openai_api_key="sk-" + "x" * 20, openai_model="gpt-4o")
    )
    assert openai.model_config == {"type": "openai", "model": "gpt-4o", "api_key": "sk-" + "x" * 20}


def test_the_sdk_accepts_the_model_config_and_builds_its_evaluators_without_the_network(
    closed_network, monkeypatch
):
    from azure.ai.evaluation import (
        IntentResolutionEvaluator,
        TaskAdherenceEvaluator,
        ToolCallAccuracyEvaluator,
    )
    from azure.ai.evaluation._evaluators._common._model_runners import validate_model_config

    for settings in (online(), online(azure_openai_auth="api_key", azure_openai_api_key="k" * 32)):
        monkeypatch.setattr(agent_evaluators, "get_settings", lambda s=settings: s)
        evaluator = AgentEvaluators()
        validate_model_config(evaluator.judge.model_config)  # the SDK's own check of a model_config
        built = evaluator.evaluators()
        assert isinstance(built["intent_resolution"], IntentResolutionEvaluator)
        assert isinstance(built["tool_call_accuracy"], ToolCallAccuracyEvaluator)
        assert isinstance(built["task_adherence"], TaskAdherenceEvaluator)
        assert evaluator.evaluators() is built  # built once


def test_the_agent_s_calls_and_tools_pass_the_sdk_s_own_validation_and_conversion(closed_network):
    from azure.ai.evaluation import (
        IntentResolutionEvaluator,
        TaskAdherenceEvaluator,
        ToolCallAccuracyEvaluator,
    )
    from azure.ai.evaluation._common.utils import reformat_agent_response, reformat_conversation_history
    from azure.ai.evaluation._evaluators._common._base_prompty_eval import _preprocess_messages

    line = sdk_inputs(QUESTION, ANSWER, CALLS, TOOLS, HISTORY, tool_results=[{"within": True}],
                      instructions="You are a QA assistant.")  # fmt: skip
    assert line["tool_calls"] == [
        {
            "type": "tool_call",
            "tool_call_id": "call_abc",
            "name": "check_spec_limit",
            "arguments": {"parameter": "assay", "value": 98.7},
        }
    ]
    assert [d["name"] for d in line["tool_definitions"]] == ["lookup_sop", "check_spec_limit"]
    config = judge_model(online()).model_config
    conversation = {"query": line["query"], "response": line["response"]}
    for cls in (IntentResolutionEvaluator, TaskAdherenceEvaluator):
        assert cls(config)._validator.validate_eval_input(
            {**conversation, "tool_definitions": line["tool_definitions"]}
        )
    accuracy = ToolCallAccuracyEvaluator(config)
    assert accuracy._validator.validate_eval_input(line)
    converted = accuracy._convert_kwargs_to_eval_input(**line)
    assert "error_message" not in converted, converted
    assert [c["name"] for c in converted["tool_calls"]] == ["check_spec_limit"]
    assert "check_spec_limit" in [d["name"] for d in converted["tool_definitions"]]  # each call's tool
    # What the judges' prompts are given: the history, the question, the call and its result, the answer
    log = logging.getLogger("test")
    query = reformat_conversation_history(_preprocess_messages(line["query"]), log)
    assert "Which SOP covers assay?" in query and "SOP-QC-001." in query and QUESTION in query
    messages = _preprocess_messages(line["response"])
    assert reformat_agent_response(messages, log) == ANSWER  # intent resolution: the answer
    assert reformat_agent_response(messages, log, include_tool_messages=True) == (  # task adherence
        '[TOOL_CALL] check_spec_limit(parameter="assay", value=98.7)\n[TOOL_RESULT] {"within": true}\n'
        + ANSWER
    )


def test_a_line_without_tool_calls_still_validates_and_a_bad_one_is_refused_by_the_sdk(closed_network):
    from azure.ai.evaluation import IntentResolutionEvaluator, ToolCallAccuracyEvaluator
    from azure.ai.evaluation._exceptions import EvaluationException

    config = judge_model(online()).model_config
    plain = sdk_inputs("Delete batch record B-1.", "I cannot do that.", None, TOOLS)
    assert plain["tool_calls"] == [] and plain["response"][-1]["role"] == "assistant"
    assert IntentResolutionEvaluator(config)._validator.validate_eval_input(
        {
            "query": plain["query"],
            "response": plain["response"],
            "tool_definitions": plain["tool_definitions"],
        }
    )
    # The SDK checks what the adapter builds: a call without an object for arguments is refused
    broken = {**sdk_inputs(QUESTION, ANSWER, CALLS, TOOLS)}
    broken["tool_calls"] = [{**broken["tool_calls"][0], "arguments": "[1]"}]
    broken["response"] = [{"role": "assistant", "content": broken["tool_calls"]}]
    with pytest.raises(EvaluationException, match="arguments"):
        ToolCallAccuracyEvaluator(config)._validator.validate_eval_input(broken)


def test_flat_calls_and_definitions_and_unparsable_arguments():
    line = sdk_inputs(
        QUESTION,
        ANSWER,
        [
            {"name": " lookup_sop ", "arguments": {"document": "SOP-QC-001"}},
            {"name": "x", "arguments": "nope"},
        ],
        [{"name": "lookup_sop", "description": "d", "parameters": {"type": "object"}}],
        [{"role": "user", "content": "hi"}],
    )
    assert line["tool_calls"] == [
        {
            "type": "tool_call",
            "tool_call_id": "call_0",
            "name": "lookup_sop",
            "arguments": {"document": "SOP-QC-001"},
        },
        {"type": "tool_call", "tool_call_id": "call_1", "name": "x", "arguments": {}},
    ]
    assert line["tool_definitions"] == [
        {"name": "lookup_sop", "description": "d", "parameters": {"type": "object"}}
    ]
    assert line["query"][0] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    assert len(line["response"]) == 3  # two calls without results, then the answer


def test_aggregate_leaves_out_metrics_a_line_did_not_get():
    lines = [
        {"intent_resolution": 5.0, "tool_call_accuracy": 4.0, "task_adherence": 1.0},
        {"intent_resolution": 3.0, "task_adherence": 0.0},
    ]
    assert AgentEvaluators.__aggregate__(None, lines) == {  # type: ignore[arg-type]
        "intent_resolution": 4.0,
        "tool_call_accuracy": 4.0,
        "task_adherence": 0.5,
    }


def test_with_an_azure_openai_deployment_the_sdk_judges_each_line_over_http(monkeypatch):
    """End to end with the real SDK on Azure OpenAI's wire shape: the fake endpoint on loopback,
    answering through the offline model. Each line sends one call per evaluator to the deployment,
    carrying the agent's tool call and the tools offered, and each metric comes back in its range.
    The offline model's scores say nothing about quality: the wiring is what is checked."""
    bodies: list[tuple[str, dict]] = []
    respond = offline_model.respond

    def recording(path: str, body: dict) -> tuple[int, dict]:
        bodies.append((path, body))
        return respond(path, body)

    monkeypatch.setattr(offline_model, "respond", recording)
    with FakeEndpoint(Limits()) as endpoint:
        settings = online(
            azure_openai_endpoint=endpoint.url,
            azure_openai_chat_deployment="gpt-4o",
            azure_openai_auth="api_key",
            azure_openai_api_key="fake",  # pragma: allowlist secret
        )
        monkeypatch.setattr(agent_evaluators, "get_settings", lambda: settings)
        scores = AgentEvaluators()(QUESTION, ANSWER, CALLS, TOOLS, HISTORY, ["Within 95.0-105.0%."])
        stats = endpoint.stats()
    assert set(scores) == {"intent_resolution", "tool_call_accuracy", "task_adherence"}, scores
    assert 1 <= scores["intent_resolution"] <= 5 and 1 <= scores["tool_call_accuracy"] <= 5
    assert scores["task_adherence"] in (0.0, 1.0)
    assert stats["answered"] == len(bodies) == 3 and stats["errors"] == 0
    assert {path for path, _ in bodies} == {"/openai/deployments/gpt-4o/chat/completions"}
    sent = json.dumps([body for _, body in bodies])
    assert "check_spec_limit" in sent and "lookup_sop" in sent and "98.7" in sent
