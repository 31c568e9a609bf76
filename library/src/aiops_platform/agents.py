"""The agent flow kind on Microsoft Agent Framework: a use case's instructions and plain-Python tools
(flows/agent/tools.py) answer one turn of a conversation.

The project's flow stays a few lines: Agent Framework's API, the model switch (offline, OpenAI, Azure
OpenAI, as `llm.build_async_client`), the spans and the record of what the agent did live here, once.
Each turn returns what the tool-use evaluators and the judges read: the answer, the tool calls in
order, the tool results the model saw (`context`) and the model turns taken.

Tracing (the GenAI conventions, as the other kinds): `invoke_agent <name>` around the turn, a `chat`
client span per model call with its token usage (so cost and `monitor summary` count it) and an
`execute_tool <tool>` span per tool call. Agent Framework's own instrumentation stays off: these
spans already go to the local store and Azure Monitor through the platform's tracer.

Agent Framework is an optional extra (`agent`), imported only when an agent runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypedDict, TypeVar

from aiops_platform import llm, tracing
from aiops_platform.agent_tools import AgentError
from aiops_platform.agent_tools import tools_in as tools_in  # the flows import it from here
from aiops_platform.settings import Settings, get_settings

MAX_MODEL_TURNS = 6  # a turn that needs more rounds of tool calls is looping, not working
MAX_TOOL_CALLS = 10
TOOL_SECONDS = 30.0  # a tool still running then is abandoned: the model is told it failed (TimeoutError)
MAX_TOOL_RESULT_CHARACTERS = 20_000  # more is cut, with a note: it would go to the model and the caller
CHAT_ROLES = ("user", "assistant")
T = TypeVar("T")


class ToolCallRecord(TypedDict):
    name: str
    arguments: dict[str, Any]


class AgentAnswer(TypedDict):
    answer: str
    context: str  # the tool results the model saw, in order: what groundedness is judged against
    tool_calls: list  # of ToolCallRecord; plain `list`: Prompt Flow's flex outputs take no richer type
    turns: int  # model responses: each round of tool calls one, the final answer one


def tool_definitions(tools: Sequence[Callable[..., Any]]) -> list[dict[str, Any]]:
    """The tools as the model is offered them (OpenAI's function format, built by Agent Framework from
    each signature and docstring): what azure-ai-evaluation's tool-call judges read."""
    from agent_framework import tool

    return [tool(function).to_json_schema_spec() for function in tools]


def run_agent(
    *,
    name: str,
    instructions: str,
    tools: Sequence[Callable[..., Any]],
    question: str,
    chat_history: list,
    temperature: float = 0.0,
) -> AgentAnswer:
    """One turn: the earlier turns (Prompt Flow's chat shape or role/content messages, as the chat
    kind takes them) and the question go to the agent, which may call its tools before it answers."""
    history = history_messages(chat_history)
    settings = get_settings()
    with tracing.agent_invocation(name):
        return _run_to_end(lambda: _turn(settings, name, instructions, tools, history, question, temperature))


def history_messages(chat_history: list) -> list[dict[str, str]]:
    if not isinstance(chat_history, list):
        raise AgentError(f"chat_history: a JSON list of turns, not {type(chat_history).__name__}")
    messages = []
    for number, turn in enumerate(chat_history):
        if not isinstance(turn, dict):
            raise AgentError(f"chat_history[{number}]: an object, not {type(turn).__name__}")
        if "role" in turn:
            if turn["role"] not in CHAT_ROLES or not isinstance(turn.get("content"), str):
                raise AgentError(f"chat_history[{number}]: role user or assistant with text content")
            messages.append({"role": turn["role"], "content": turn["content"]})
            continue
        try:
            messages.append({"role": "user", "content": str(turn["inputs"]["question"])})
            messages.append({"role": "assistant", "content": str(turn["outputs"]["answer"])})
        except (KeyError, TypeError):
            raise AgentError(
                f"chat_history[{number}]: needs inputs.question and outputs.answer, or role and content"
            ) from None
    return messages


def _run_to_end(start: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from synchronous code: here, or on a fresh thread when this one already runs an
    event loop (a flow called from async code, such as a workflow's handler). Spans keep their parent."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _in_own_loop(start)
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(context.run, _in_own_loop, start).result()


def _in_own_loop(start: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run`, but a tool abandoned after TOOL_SECONDS (its thread cannot be stopped) does not
    hold the turn: the loop's executor, where Agent Framework runs sync tools, is not waited for."""
    loop = asyncio.new_event_loop()
    tools = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="agent-tool")
    loop.set_default_executor(tools)
    try:
        return loop.run_until_complete(start())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            tools.shutdown(wait=False, cancel_futures=True)
            loop.close()


async def _turn(
    settings: Settings,
    name: str,
    instructions: str,
    tools: Sequence[Callable[..., Any]],
    history: list[dict[str, str]],
    question: str,
    temperature: float,
) -> AgentAnswer:
    from agent_framework import Agent, Message
    from agent_framework.openai import OpenAIChatCompletionClient

    async with llm.build_async_client(settings) as model_client:  # closed before this turn's loop is
        client = OpenAIChatCompletionClient(model=settings.model, async_client=model_client)
        client.function_invocation_configuration["max_iterations"] = MAX_MODEL_TURNS
        client.function_invocation_configuration["max_function_calls"] = MAX_TOOL_CALLS
        turns = _ModelTurns(settings, temperature)
        agent = Agent(
            client=client,
            name=name,
            instructions=instructions,
            tools=list(tools),
            default_options={"temperature": float(temperature)},
            middleware=[turns.chat_middleware(), _tool_middleware()],
        )
        messages = [Message(role=turn["role"], contents=[turn["content"]]) for turn in history]
        response = await agent.run([*messages, Message(role="user", contents=[question])])
    calls: list[ToolCallRecord] = []
    results: list[str] = []
    for message in response.messages:
        for content in message.contents:
            if content.type == "function_call":
                calls.append({"name": str(content.name), "arguments": _arguments(content.arguments)})
            elif content.type == "function_result":
                results.append(str(content.result))
    context = "\n\n".join(results)
    return {"answer": response.text, "context": context, "tool_calls": calls, "turns": turns.count}


def _arguments(arguments: object) -> dict[str, Any]:
    """The model's arguments as an object: OpenAI sends JSON text; anything but an object is kept whole
    under `_raw`, so the tool-use metrics see a wrong call rather than none."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return {"_raw": arguments}
    return dict(arguments) if isinstance(arguments, dict) else {"_raw": arguments}


class _ModelTurns:
    """Counts the turn's model calls and traces each as `llm.chat` does (span, usage, call count),
    with the same one-line failures (llm.ModelCallError)."""

    def __init__(self, settings: Settings, temperature: float) -> None:
        self.settings = settings
        self.temperature = temperature
        self.count = 0

    def chat_middleware(self) -> Any:
        from agent_framework import ChatContext, ChatMiddleware

        outer = self

        class TracedModelCall(ChatMiddleware):
            async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
                await outer.call(context, call_next)

        return TracedModelCall()

    async def call(self, context: Any, call_next: Callable[[], Awaitable[None]]) -> None:
        settings = self.settings
        provider = llm.PROVIDER_NAMES[settings.provider]
        temperature = {"gen_ai.request.temperature": self.temperature}
        with tracing.model_call("chat", provider, settings.model, **temperature) as span:
            self.count += 1
            try:
                with llm.model_answer(settings, "chat completion"):
                    try:
                        await call_next()
                    except Exception as error:  # Agent Framework wraps the client's errors in its own
                        raise _client_error(error) from error
                    usage = context.result.usage_details or {}
                    input_tokens = usage.get("input_token_count") or 0
                    output_tokens = usage.get("output_token_count") or 0
                    llm.counted(input_tokens, output_tokens)
            finally:
                llm.CALLS.add(made=1)
            model = getattr(context.result, "model", None) or settings.model
            tracing.record_usage(span, str(model), input_tokens, output_tokens)


def _client_error(error: BaseException) -> BaseException:
    """The openai error (or identity failure) under Agent Framework's wrapper, so `llm.model_answer`
    words it as for every other kind; any other error as it is."""
    import openai

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, openai.APIError | llm.NoIdentityToken):
            return cause
        cause = cause.__cause__ or cause.__context__
    return error


def _tool_middleware() -> Any:
    from agent_framework import FunctionInvocationContext, FunctionMiddleware

    class TracedToolCall(FunctionMiddleware):
        """Each tool call as an `execute_tool` span with the model's call id, bounded in time and in
        the length of its result; a tool that raises or times out is recorded on its span, and Agent
        Framework hands the model an error result."""

        async def process(
            self, context: FunctionInvocationContext, call_next: Callable[[], Awaitable[None]]
        ) -> None:
            function = context.function
            call_id = context.metadata.get("call_id")
            description = (function.description or "").strip().splitlines()[:1]
            with tracing.execute_tool(
                function.name,
                call_id=str(call_id) if call_id else None,
                arguments=context.arguments,
                description=description[0] if description else None,
            ) as call:
                await asyncio.wait_for(call_next(), TOOL_SECONDS)
                text = _result_text(context.result)
                if len(text) > MAX_TOOL_RESULT_CHARACTERS:
                    cut = len(text) - MAX_TOOL_RESULT_CHARACTERS
                    text = f"{text[:MAX_TOOL_RESULT_CHARACTERS]} [cut: {cut} more characters]"
                    context.result = text
                call.result(text)

    return TracedToolCall()


def _result_text(result: object) -> str:
    """A tool's result as the model reads it: Agent Framework wraps a function's return value in a
    list of contents."""
    items = result if isinstance(result, list | tuple) else [result]
    texts = [getattr(item, "text", None) or getattr(item, "result", None) or item for item in items]
    return "\n".join(str(text) for text in texts)
