{%- if cookiecutter.flow_kind == 'qa' -%}
"""Question + context -> answer. Plain Python and a prompt file: any engine, or a test, can call it."""

from pathlib import Path
from typing import TypedDict

from aiops_platform.llm import chat
from aiops_platform.prompts import prompt_file, render_chat
from aiops_platform.tracing import traced

PROMPTS = Path(__file__).parent


class Answer(TypedDict):
    answer: str


@traced("flow qa")
def answer_question(
    question: str, context: str, prompt: str = "qa.jinja2", temperature: float = 0.0
) -> Answer:
    """`prompt` and `temperature` are what experiment variants change."""
    messages = render_chat(prompt_file(PROMPTS, prompt), question=question, context=context)
    return {"answer": chat(messages, temperature=float(temperature)).text}
{%- elif cookiecutter.flow_kind == 'chat' -%}
"""Chat: question + context + earlier turns -> answer. Plain Python and a prompt file, engine-agnostic.

`chat_history` uses Prompt Flow's chat shape, `[{"inputs": {"question": ...}, "outputs": {"answer":
...}}]`, so the same flow serves a chat UI; chat messages (`{"role": ..., "content": ...}`, what
`pf flow test --interactive` sends a flex flow) are taken as they are. Earlier turns become real chat
messages between the system prompt and the new question, rather than text pasted into the prompt.
A first turn sends [].
"""

from pathlib import Path
from typing import Any, TypedDict

from aiops_platform.llm import chat
from aiops_platform.prompts import prompt_file, render_chat
from aiops_platform.tracing import traced

PROMPTS = Path(__file__).parent
MAX_TURNS = 10  # older turns are dropped: they cost tokens and rarely change the answer


class Answer(TypedDict):
    answer: str


def history_messages(chat_history: list[dict[str, Any]]) -> list[dict[str, str]]:
    messages = []
    for turn in chat_history:
        if "role" in turn:  # already a chat message
            messages.append({"role": str(turn["role"]), "content": str(turn["content"])})
        else:
            messages.append({"role": "user", "content": str(turn["inputs"]["question"])})
            messages.append({"role": "assistant", "content": str(turn["outputs"]["answer"])})
    return messages[-2 * MAX_TURNS :]


@traced("flow chat")
def chat_turn(
    question: str,
    context: str,
    chat_history: list,  # plain `list`, no Optional: Prompt Flow's serving rejects richer types
    prompt: str = "chat.jinja2",
    temperature: float = 0.0,
) -> Answer:
    """`prompt` and `temperature` are what experiment variants change."""
    system, *latest = render_chat(prompt_file(PROMPTS, prompt), question=question, context=context)
    messages = [system, *history_messages(chat_history), *latest]
    return {"answer": chat(messages, temperature=float(temperature)).text}
{%- elif cookiecutter.flow_kind == 'rag' -%}
"""RAG: question -> top-k chunks of the project's documents -> answer. Plain Python, engine-agnostic.

The documents live in `data/docs/`; `make index` chunks and indexes them into `.aiops/index/`
(BM25 offline, embeddings when configured). The retrieved context is returned with the answer,
so groundedness is judged against what the model actually saw, and so are the retrieved chunks in
rank order (`retrieved`: id, source document, text), so retrieval is scored on its own
(evaluators/retrieval.py) and a caller can cite its sources.
"""

from pathlib import Path
from typing import TypedDict

from aiops_platform.llm import chat
from aiops_platform.paths import project
from aiops_platform.prompts import prompt_file, render_chat
from aiops_platform.retrieval import retrieve
from aiops_platform.tracing import traced

PROMPTS = Path(__file__).parent
PROJECT = project(PROMPTS)  # the project this flow belongs to: its documents and index


class Retrieved(TypedDict):
    id: str  # `<source>#<n>`: valid for this index only (it changes with the documents or chunk size)
    source: str  # the document, relative to data/docs
    text: str


class Answer(TypedDict):
    answer: str
    context: str
    retrieved: list  # of Retrieved, best first; plain `list`: Prompt Flow's flex outputs take no richer type


@traced("flow rag")
def answer_from_documents(
    question: str, prompt: str = "rag.jinja2", temperature: float = 0.0, top_k: int = 3
) -> Answer:
    """`prompt`, `temperature` and `top_k` are what experiment variants change."""
    chunks = retrieve(question, int(top_k), PROJECT)
    context = "\n\n".join(chunk.text for chunk in chunks)
    messages = render_chat(prompt_file(PROMPTS, prompt), question=question, context=context)
    retrieved = [Retrieved(id=chunk.id, source=chunk.source, text=chunk.text) for chunk in chunks]
    answer = chat(messages, temperature=float(temperature)).text
    return {"answer": answer, "context": context, "retrieved": retrieved}
{%- elif cookiecutter.flow_kind == 'agent' -%}
"""Agent: question + earlier turns -> answer, calling the tools in tools.py as the model decides.

Runs on Microsoft Agent Framework (aiops_platform.agents): the model sees the instructions (the
prompt file's system part), the earlier turns and the tools, calls tools, and answers from their
results. Offline the stand-in model picks the tool whose name and description share words with the
question, so the gate scores tool use deterministically. `chat_history` takes Prompt Flow's chat
shape or chat messages, like the chat kind; a first turn sends [].

Returns the tool calls and the model turns with the answer (the tool_use evaluator scores them),
and `context`, the tool results the model saw (what the judges and safety checks ground against).
"""

from pathlib import Path
from typing import TypedDict

from aiops_platform.agents import run_agent, tools_in
from aiops_platform.prompts import prompt_file, render_chat
from aiops_platform.tracing import traced

PROMPTS = Path(__file__).parent
TOOLS = tools_in(PROMPTS / "tools.py")  # every public function there; add a tool by writing one


class Answer(TypedDict):
    answer: str
    context: str
    tool_calls: list  # [{"name", "arguments"}] in call order; plain `list`: Prompt Flow takes no richer type
    turns: int


@traced("flow agent")
def agent_turn(
    question: str,
    chat_history: list,  # plain `list`, no Optional: Prompt Flow's serving rejects richer types
    prompt: str = "agent.jinja2",
    temperature: float = 0.0,
) -> Answer:
    """`prompt` and `temperature` are what experiment variants change."""
    system, *_ = render_chat(prompt_file(PROMPTS, prompt))  # the instructions: its system part
    result = run_agent(
        name={{ cookiecutter.project_slug | jsonify }},
        instructions=system["content"],
        tools=TOOLS,
        question=question,
        chat_history=chat_history,
        temperature=float(temperature),
    )
    return Answer(**result)
{%- endif %}
