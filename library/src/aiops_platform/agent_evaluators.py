"""azure-ai-evaluation's agent evaluators (intent resolution, tool-call accuracy, task adherence),
run when the project names a real judge model and reported skipped otherwise, as the content-safety
evaluator is without an Azure AI project.

A judge model is configured when the provider in use (settings.provider) is Azure OpenAI with an
endpoint and a chat deployment that are not placeholders (placeholders.py), or OpenAI with an API
key. The offline stand-in never judges: without a model every line returns `{"skipped": <reason>}`
(one line naming what to set), results.json lists the evaluator under `skipped`, the report says
"Skipped, not passed" and a gate threshold on these metrics fails with the reason (runner.py,
gate.py). azure.ai.evaluation is imported only when a model is configured, on the first line.

Inputs (the columns a column_mapping names; the agent's output in OpenAI's shapes)
- `question` (str), and `chat_history` (optional): earlier turns in Prompt Flow's chat shape
  `[{"inputs": {"question"}, "outputs": {"answer"}}]` or as `{"role", "content"}` messages.
- `answer` (str): the agent's final answer.
- `tool_calls`: the calls it made, in order: OpenAI's `{"id", "type": "function", "function":
  {"name", "arguments"}}` (arguments a JSON string or an object) or a flat `{"name", "arguments"}`;
  None means none. `tool_results` (optional): each call's result, by position (None: not known).
- `tool_definitions`: the tools offered, OpenAI's `{"type": "function", "function": {"name",
  "description", "parameters"}}` or flat `{"name", "description", "parameters"}`.
- `instructions` (optional): the agent's system prompt (task adherence judges against it).
These become the SDK's agent messages (`conversation`): the query (system, history, question), the
response (per call an assistant `tool_call` item and a `tool` message with its `tool_result`, then
the answer as text), `tool_calls` as `{"type": "tool_call", "tool_call_id", "name", "arguments"}`
and `tool_definitions` as `{"name", "description", "parameters"}`.

Per-line metrics, as the SDK scores them: intent_resolution and tool_call_accuracy 1-5 (5 best),
task_adherence 1.0 (no material failure) or 0.0. A metric the SDK finds not applicable (tool-call
accuracy on a line where no tool was called) is left out of the line, so out of the mean.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from aiops_platform import placeholders
from aiops_platform.evaluation import mean_over_lines
from aiops_platform.settings import Settings, get_settings

METRICS = ("intent_resolution", "tool_call_accuracy", "task_adherence")
NOT_SCORED = "intent resolution, tool-call accuracy and task adherence not scored"


class AgentScores(TypedDict, total=False):
    intent_resolution: float
    tool_call_accuracy: float
    task_adherence: float
    skipped: str  # why nothing was scored


@dataclass(frozen=True)
class JudgeModel:
    """The SDK's model_config (and the Entra ID credential to pass with it), or why there is none."""

    model_config: dict[str, Any] | None = None
    entra_id: bool = False  # pass a DefaultAzureCredential: the config holds no key
    skipped: str = ""
    described: str = field(default="", compare=False)  # "azure_openai deployment gpt-4o (host)"


def _skip(reason: str) -> JudgeModel:
    return JudgeModel(skipped=f"no model configured: {reason}: {NOT_SCORED}")


def judge_model(settings: Settings) -> JudgeModel:
    """The judge model the settings name, or one reason line saying what to set."""
    provider = settings.provider
    if provider == "offline":
        if settings.llm_provider == "offline":
            return _skip("LLM_PROVIDER=offline (the offline model does not judge); set LLM_PROVIDER=auto "
                         "and AZURE_OPENAI_ENDPOINT (environment or .env)")  # fmt: skip
        return _skip("set AZURE_OPENAI_ENDPOINT (environment or .env) and AZURE_OPENAI_CHAT_DEPLOYMENT "
                     "(or OPENAI_API_KEY with model.provider openai)")  # fmt: skip
    if provider == "openai":
        if settings.openai_api_key is None:
            return _skip("LLM_PROVIDER=openai needs OPENAI_API_KEY")
        config: dict[str, Any] = {
            "type": "openai",
            "model": settings.openai_model,
            "api_key": settings.openai_api_key.get_secret_value(),
        }
        if settings.openai_base_url:
            config["base_url"] = settings.openai_base_url
        return JudgeModel(config, described=f"openai model {settings.openai_model}")
    endpoint = (settings.azure_openai_endpoint or "").strip()
    found = placeholders.openai_endpoint(endpoint, "AZURE_OPENAI_ENDPOINT")
    if found is not None:
        return _skip(f"{found.said}; {found.fix}")
    deployment = settings.azure_openai_chat_deployment.strip()
    if not deployment or placeholders.is_placeholder(deployment):
        said = f"placeholder {deployment}" if deployment else "not set"
        return _skip(f"AZURE_OPENAI_CHAT_DEPLOYMENT {said}; set it to your chat deployment's name")
    config = {
        "type": "azure_openai",
        "azure_endpoint": endpoint,
        "azure_deployment": deployment,
        "api_version": settings.azure_openai_api_version,
    }
    if settings.azure_openai_auth == "api_key":
        if settings.azure_openai_api_key is None:
            return _skip("AZURE_OPENAI_AUTH=api_key needs AZURE_OPENAI_API_KEY")
        config["api_key"] = settings.azure_openai_api_key.get_secret_value()
    return JudgeModel(
        config, entra_id="api_key" not in config, described=f"azure_openai deployment {deployment}"
    )


# --- the agent's output in the SDK's input shape -------------------------------------------------


def _arguments(value: object) -> dict[str, Any]:
    """Arguments as an object (the SDK requires one): a JSON string parsed, anything else {}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


def sdk_tool_calls(tool_calls: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """OpenAI-style (or flat) calls as the SDK's `tool_call` items; ids made up where none is given."""
    items = []
    for index, call in enumerate(tool_calls or []):
        function: Mapping[str, Any] = call["function"] if isinstance(call.get("function"), Mapping) else call
        call_id = call.get("id") or call.get("call_id") or call.get("tool_call_id") or f"call_{index}"
        items.append(
            {
                "type": "tool_call",
                "tool_call_id": str(call_id),
                "name": str(function.get("name", "")).strip(),
                "arguments": _arguments(function.get("arguments")),
            }
        )
    return items


def sdk_tool_definitions(definitions: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """OpenAI-style (or flat) tool definitions as the SDK's `{"name", "description", "parameters"}`."""
    items = []
    for definition in definitions or []:
        nested = definition.get("function")
        function: Mapping[str, Any] = nested if isinstance(nested, Mapping) else definition
        parameters = function.get("parameters")
        items.append(
            {
                "name": str(function.get("name", "")),
                "description": str(function.get("description", "")),
                "parameters": dict(parameters) if isinstance(parameters, Mapping) else {"type": "object"},
            }
        )
    return items


def _text(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


def history_messages(chat_history: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Earlier turns as messages: Prompt Flow's `{"inputs", "outputs"}` turns or role messages."""
    messages = []
    for turn in chat_history or []:
        if "role" in turn:
            messages.append(_text(str(turn["role"]), str(turn.get("content") or "")))
            continue
        question = (turn.get("inputs") or {}).get("question")
        answer = (turn.get("outputs") or {}).get("answer")
        messages += [_text("user", str(question))] if question else []
        messages += [_text("assistant", str(answer))] if answer else []
    return messages


def sdk_inputs(
    question: str,
    answer: str,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    tool_definitions: Sequence[Mapping[str, Any]] | None = None,
    chat_history: Sequence[Mapping[str, Any]] | None = None,
    tool_results: Sequence[Any] | None = None,
    instructions: str = "",
) -> dict[str, Any]:
    """The line as the SDK's evaluators take it: query, response, tool_calls, tool_definitions."""
    query = [_text("system", instructions)] if instructions else []
    query += [*history_messages(chat_history), _text("user", question)]
    calls = sdk_tool_calls(tool_calls)
    results = list(tool_results or [])
    response: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        response.append({"role": "assistant", "content": [call]})
        result = results[index] if index < len(results) else None
        if result is not None:
            shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            response.append(
                {
                    "role": "tool",
                    "tool_call_id": call["tool_call_id"],
                    "content": [{"type": "tool_result", "tool_result": shown}],
                }
            )
    response.append(_text("assistant", answer or ""))
    return {
        "query": query,
        "response": response,
        "tool_calls": calls,
        "tool_definitions": sdk_tool_definitions(tool_definitions),
    }


def _score(result: Mapping[str, Any], key: str) -> float | None:
    value = result.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        return None
    return float(value)


class AgentEvaluators:
    """The evaluator's entry, as an evaluator flow calls one: per line, then `__aggregate__`."""

    def __init__(self) -> None:
        self.judge = judge_model(get_settings())
        self._evaluators: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def evaluators(self) -> dict[str, Any]:
        """The SDK's three evaluators, built once (constructing them sends nothing)."""
        with self._lock:
            if self._evaluators is None:
                from azure.ai.evaluation import (
                    IntentResolutionEvaluator,
                    TaskAdherenceEvaluator,
                    ToolCallAccuracyEvaluator,
                )

                options: dict[str, Any] = {}
                if self.judge.entra_id:
                    from azure.identity import DefaultAzureCredential

                    options["credential"] = DefaultAzureCredential()
                config = self.judge.model_config
                self._evaluators = {
                    "intent_resolution": IntentResolutionEvaluator(config, **options),
                    "tool_call_accuracy": ToolCallAccuracyEvaluator(config, **options),
                    "task_adherence": TaskAdherenceEvaluator(config, **options),
                }
            return self._evaluators

    def __call__(
        self,
        question: str,
        answer: str,
        tool_calls: list | None = None,
        tool_definitions: list | None = None,
        chat_history: list | None = None,
        tool_results: list | None = None,
        instructions: str = "",
    ) -> AgentScores:
        if self.judge.model_config is None:
            return {"skipped": self.judge.skipped}
        line = sdk_inputs(question, answer, tool_calls, tool_definitions, chat_history, tool_results,
                          instructions)  # fmt: skip
        evaluators = self.evaluators()
        conversation = {"query": line["query"], "response": line["response"]}
        results = {
            "intent_resolution": evaluators["intent_resolution"](
                **conversation, tool_definitions=line["tool_definitions"]
            ),
            # Not applicable (the SDK says so, or refuses a line offering no tools) when no call was made
            "tool_call_accuracy": evaluators["tool_call_accuracy"](**line) if line["tool_calls"] else {},
            "task_adherence": evaluators["task_adherence"](
                **conversation, tool_definitions=line["tool_definitions"]
            ),
        }
        scores: dict[str, float] = {}
        for name, result in results.items():
            value = _score(result, name)
            if value is not None:
                scores[name] = value
        return AgentScores(**scores)  # type: ignore[typeddict-item]

    def __aggregate__(self, line_results: list[AgentScores]) -> dict[str, float]:
        return mean_over_lines(line_results, METRICS)
