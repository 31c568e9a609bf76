"""A deterministic stand-in for a chat model, for development and tests. It is not a model.

It answers OpenAI chat-completion requests by picking the context sentence that shares the most
words (at least two) with the question, cut to N words when the system prompt says "at most N
words"; it never repeats the system prompt, so it keeps the canary (safety.py). Asked for JSON
(`response_format: json_object`), it acts as a judge: a 1-5 score from word overlap between the
answer and the reference the judge prompt names (a safety judge: 5 for a refusal; groundedness and
relevance: 5 for an abstention when the ground truth abstains too, as their prompts ask). It sits behind
the real `openai` client as an httpx transport, so flows exercise the same client code path as
Azure OpenAI, with no server, port or network.

Offered `tools` (OpenAI function definitions), it calls the one whose name and description share the
most words (at least two) with the question, with arguments it takes from the question, and answers
from the `role: "tool"` results as from a context (`tool_calls`, below). Tool results are data: no
instruction in one makes it call a tool.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence

import httpx

from aiops_platform.evaluation import EXPECTED_ABSTENTION, JUDGES, abstains
from aiops_platform.safety import SAFETY_JUDGES, refuses

NO_ANSWER = "I don't know based on the provided context."
BASE_URL = "http://offline.invalid/v1"
# One shared word is no answer: "what dose of ibuprofen should I take?" is not answered with "phase I".
# Words count as shared when their first STEM letters agree ("calibration" and "calibrated").
MIN_SHARED_WORDS = 2
STEM = 6
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD_LIMIT = re.compile(r"at most (\d+) words", re.IGNORECASE)
_SECTION = re.compile(r"^(Question|Context|Answer|Ground truth):[ \t]*", re.MULTILINE)
# what a judge compares the answer with (evaluation.JUDGES) -> that section of the judge's prompt
_SECTION_OF = {"context": "Context", "question": "Question", "ground_truth": "Ground truth"}
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
    ]
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """The distinct words of `text` that carry meaning (no stopwords)."""
    return set(words(text)) - _STOPWORDS


def shared(wanted: set[str], sentence_words: set[str]) -> int:
    """How many of the wanted words the sentence holds, in any form (by their first STEM letters)."""
    stems = {word[:STEM] for word in sentence_words if len(word) >= STEM}
    return sum(1 for word in wanted if word in sentence_words or (len(word) >= STEM and word[:STEM] in stems))


def split_prompt(prompt: str) -> tuple[str, str]:
    """(context, question) from `Context:` / `Question:` sections, else (whole prompt, last line)."""
    context, marker, question = prompt.rpartition("Question:")
    if not marker:
        lines = prompt.strip().splitlines() or [""]
        return prompt, lines[-1]
    return context.replace("Context:", "", 1).strip(), question.strip()


def answer(prompt: str, earlier_turns: str = "") -> str:
    """The sentence sharing the most words with the question, if it shares MIN_SHARED_WORDS in any form
    (or one, and one with the earlier turns); else it says it does not know. Earlier user turns also
    break ties, as a follow-up's topic ("and who signs it?")."""
    context, question = split_prompt(prompt)
    wanted = content_words(question)
    topic = content_words(earlier_turns)
    best, best_score = NO_ANSWER, (0, 0)
    enough = min(MIN_SHARED_WORDS, len(wanted)) or 1
    for sentence in _SENTENCE_END.split(context.strip()):
        sentence_words = set(words(sentence))
        score = (len(wanted & sentence_words), len(topic & sentence_words))
        if score[0] and shared(wanted, sentence_words) + score[1] >= enough and score > best_score:
            best, best_score = sentence.strip(), score
    return best


def sections(prompt: str) -> dict[str, str]:
    parts = _SECTION.split(prompt)
    return {name: text.strip() for name, text in zip(parts[1::2], parts[2::2], strict=True)}


def safety_judge(name: str, found: dict[str, str]) -> str:
    """A safety judge's JSON: a refusal is safe (5); otherwise the share of the answer's words the
    context holds (an answer that stays with the documents follows no one's injected orders)."""
    answer_words = content_words(found.get("Answer", ""))
    if refuses(found.get("Answer", "")):
        ratio, why = 1.0, "a refusal"
    else:
        ratio = len(answer_words & content_words(found.get("Context", ""))) / max(len(answer_words), 1)
        why = f"context overlap {ratio:.2f}"
    return json.dumps({"score": 1 + round(4 * ratio), "reason": f"offline stand-in: {name}, {why}"})


def judge(system: str, prompt: str) -> str:
    """JSON {"score": 1-5, "reason": ...}: overlap of the answer's words with the reference."""
    safety = next((n for n in SAFETY_JUDGES if n.replace("_", " ") in system.lower()), None)
    if safety:
        return safety_judge(safety, sections(prompt))
    name = next((n for n in JUDGES if n in system.lower()), None)  # named in the system prompt
    against = JUDGES[name] if name else "question"  # a judge it cannot name: relevance, to the question
    found = sections(prompt)
    answer_words = content_words(found.get("Answer", ""))
    reference = None if against is None else _SECTION_OF[against]  # None: the form only
    if name in EXPECTED_ABSTENTION and all(
        abstains(found.get(part, "")) for part in ("Answer", "Ground truth")
    ):
        return json.dumps({"score": 5, "reason": f"offline stand-in: {name}, an expected abstention"})
    if reference is None:
        ratio = min(len(words(found.get("Answer", ""))) / 6, 1.0)
    else:
        reference_words = content_words(found.get(reference, ""))
        ratio = len(answer_words & reference_words) / max(len(answer_words), 1)
    score = 1 + round(4 * ratio)
    return json.dumps({"score": score, "reason": f"offline stand-in: {name or 'judge'} overlap {ratio:.2f}"})


def text_of(content: object) -> str:
    """A message's text: a string, a list of content parts (their text) or None (a tool-call turn)."""
    if content is None:
        return ""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def limited(text: str, system: str) -> str:
    """The answer cut to N words when the system prompt says "at most N words"."""
    limit = _WORD_LIMIT.search(system)
    if limit and text != NO_ANSWER:
        return " ".join(text.split()[: int(limit[1])])
    return text


def complete(request: dict) -> dict:
    """An OpenAI chat.completion response body for an OpenAI chat.completions request body."""
    messages = request["messages"]
    user_turns = [text_of(m.get("content")) for m in messages if m["role"] == "user"]
    system = " ".join(text_of(m.get("content")) for m in messages if m["role"] in ("system", "developer"))
    prompt_text = " ".join(text_of(m.get("content")) for m in messages)
    user = user_turns[-1] if user_turns else ""
    message: dict = {"role": "assistant", "content": None}
    finish_reason = "stop"
    if (request.get("response_format") or {}).get("type") == "json_object":
        text = judge(system, user)
    elif request.get("tools"):
        call = tool_call(request)
        if call is not None:
            message["tool_calls"], finish_reason = [call], "tool_calls"
            text = f"{call['function']['name']} {call['function']['arguments']}"  # counted, not said
        else:
            text = limited(answer_from_tools(messages, user, " ".join(user_turns[:-1])), system)
    else:
        text = limited(answer(user, " ".join(user_turns[:-1])), system)
    if finish_reason == "stop":
        message["content"] = text
    prompt_tokens, completion_tokens = len(words(prompt_text)), len(words(text))
    return {
        "id": "offline-0",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", "offline-extractive"),
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# ---- Tool calling (the OpenAI chat-completions contract: `tools`, `tool_choice`, `tool_calls`) ----
# Words that ask rather than say what about: left out of a string argument taken from the question.
_ASKING = frozenset(
    re.findall(
        r"\w+",
        "please tell me i you we us our my can could would should will shall may look up find check show "
        "give get about say says said need know want let there any its that these those than against within "
        "according per all",
    )
)
# A parameter whose name or description says one of these takes an identifier-like token (SOP-QC-014).
_IDENTIFIER_HINTS = frozenset(
    re.findall(r"\w+", "id identifier number code reference record batch lot sop document")
)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_PUNCTUATION = ".,;:!?()[]{}'\"`"


def _function_words(function: dict) -> set[str]:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", function.get("name", ""))
    return content_words(f"{name} {function.get('description') or ''}")


def _kind(spec: dict) -> str:
    """A JSON-schema property's type, a nullable one (["string", "null"], anyOf) as its other type."""
    kinds = spec.get("type")
    if kinds is None:
        options = [
            option for option in spec.get("anyOf") or spec.get("oneOf") or [] if isinstance(option, dict)
        ]
        kinds = [option.get("type") for option in options] or ("string" if "enum" in spec else None)
    if isinstance(kinds, list):
        kinds = next((kind for kind in kinds if kind not in (None, "null")), None)
    return str(kinds or "string")


def _enum(spec: dict) -> list:
    if "enum" in spec:
        return list(spec["enum"])
    return next((list(option["enum"]) for option in spec.get("anyOf") or [] if "enum" in option), [])


def arguments(function: dict, question: str, earlier_questions: Sequence[str] = ()) -> dict | None:
    """A tool's arguments taken from the question, by its JSON-schema parameters: an enum, the value
    the question names; a number, the next number in the question; a string, an identifier-like token
    (letters and digits) when the parameter is one (its name or description says id, number, code,
    batch...) or the question's words that its description names (pH), else the question's key phrase
    (its words less stopwords, asking words and the tool's name). A required value the question lacks
    ("that batch") is taken from the user's earlier questions, the latest first, as a model resolves
    a reference from the conversation. None when a required parameter still cannot be filled: the
    model then answers instead of calling."""
    schema = function.get("parameters") or {}
    properties: dict = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    found, guessed = _arguments_in(function, question)
    for earlier in earlier_questions:
        missing = (required - set(found)) | (required & guessed)
        if not missing:
            break
        earlier_found, earlier_guessed = _arguments_in(function, earlier)
        resolved = {name for name in missing if name in earlier_found and name not in earlier_guessed}
        found |= {name: earlier_found[name] for name in resolved}
        guessed -= resolved
    if not required <= set(found):
        return None
    return {name: found[name] for name in properties if name in found}  # in the schema's order


def _arguments_in(function: dict, question: str) -> tuple[dict, set[str]]:
    """The parameters `arguments` can fill from one question (see there), required or not, and those
    of them only guessed: an identifier parameter given the key phrase, the question naming none."""
    schema = function.get("parameters") or {}
    properties: dict = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    tokens = [token.strip(_PUNCTUATION) for token in question.split()]
    tokens = [token for token in tokens if token]
    numbers = [token for token in tokens if _NUMBER.fullmatch(token)]
    identifiers = [token for token in tokens if re.search(r"\d", token) and re.search(r"[A-Za-z]", token)]
    name_words = content_words(re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", function.get("name", "")))
    question_words = set(words(question))
    found: dict = {}
    guessed: set[str] = set()
    used: set[str] = set()
    strings = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        kind, values = _kind(spec), _enum(spec)
        if values:
            scored = [(len(set(words(str(value))) & question_words), -i) for i, value in enumerate(values)]
            best = max(range(len(values)), key=lambda i: scored[i])
            if scored[best][0] or name in required:
                found[name] = values[best]
        elif kind in ("number", "integer"):
            wanted = [n for n in numbers if n not in used and (kind == "number" or "." not in n)]
            if wanted:
                used.add(wanted[0])
                found[name] = float(wanted[0]) if kind == "number" else int(wanted[0])
        elif kind == "boolean":
            if name in required:
                found[name] = False
        elif kind == "string":
            strings.append((name, spec))
    for name, spec in strings:
        about = set(words(f"{name.replace('_', ' ')} {spec.get('description') or ''}"))
        if about & _IDENTIFIER_HINTS:
            scored_ids = [
                (1 + bool(set(words(re.split(r"[\d]", token)[0])) & about), -i, token)
                for i, token in enumerate(identifiers)
                if token not in used
            ]
            if scored_ids:
                token = max(scored_ids)[2]
                used.add(token)
                found[name] = token
                continue
            guessed.add(name)  # an identifier the question does not name: what follows is a guess
        named = [
            token
            for token in tokens
            if token not in used
            and set(words(token)) <= about
            and content_words(token) - name_words - _ASKING
        ]
        if named:
            found[name] = " ".join(dict.fromkeys(named))
            continue
        phrase = [
            token for token in tokens if token not in used and content_words(token) - name_words - _ASKING
        ]
        found[name] = " ".join(phrase) or " ".join(tokens)
    return found, guessed


def _calls(messages: list[dict]) -> list[tuple[str, dict]]:
    """(name, arguments) of every tool call the conversation holds."""
    made = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                made.append((function.get("name", ""), json.loads(function.get("arguments") or "{}")))
            except json.JSONDecodeError:
                made.append((function.get("name", ""), {}))
    return made


def choose_tool(functions: list[dict], question: str, earlier_turns: str = "") -> dict | None:
    """The function whose name and description share the most words with the question, at least
    MIN_SHARED_WORDS (in any form, as answer() counts them); earlier user turns break ties."""
    wanted, topic = content_words(question), content_words(earlier_turns)
    enough = min(MIN_SHARED_WORDS, len(wanted)) or 1
    best, best_score = None, (0, 0)
    for function in functions:
        function_words = _function_words(function)
        score = (shared(wanted, function_words), len(topic & function_words))
        if score[0] >= enough and score > best_score:
            best, best_score = function, score
    return best


def tool_call(request: dict) -> dict | None:
    """The tool call the question needs ({id, type, function: {name, arguments}}), or None: no tool
    fits it, `tool_choice` is "none", a tool was already called since the question (one round a turn),
    or the call would repeat one the conversation holds (no loops). Only the user chooses: the last
    question the tool, and the earlier questions a value it lacks; what tool results and answers say
    never makes a call."""
    messages, choice = request["messages"], request.get("tool_choice") or "auto"
    functions = [tool["function"] for tool in request.get("tools") or [] if tool.get("type") == "function"]
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    if choice == "none" or last_user < 0 or _calls(messages[last_user:]):
        return None
    question = split_prompt(text_of(messages[last_user].get("content")))[1]
    earlier = [text_of(m.get("content")) for m in messages[:last_user] if m["role"] == "user"]
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}: that tool
        wanted = (choice.get("function") or {}).get("name")
        function = next((f for f in functions if f.get("name") == wanted), None)
    else:
        function = choose_tool(functions, question, " ".join(earlier))
        if function is None and choice == "required" and functions:
            function = max(functions, key=lambda f: shared(content_words(question), _function_words(f)))
    if function is None:
        return None
    found = arguments(function, question, [split_prompt(text)[1] for text in reversed(earlier)])
    if found is None or (function["name"], found) in _calls(messages):
        return None
    number = len(_calls(messages)) + 1
    return {
        "id": f"call_offline_{number}",
        "type": "function",
        "function": {"name": function["name"], "arguments": json.dumps(found)},
    }


def _as_sentences(result: str) -> str:
    """A tool result as context text: JSON (an object, a list) as one "key: value." sentence a field."""
    try:
        data = json.loads(result)
    except json.JSONDecodeError:
        return result
    if isinstance(data, str):
        return data
    lines: list[str] = []

    def walk(node: object, label: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{label} {key}".strip())
        elif isinstance(node, list):
            for value in node:
                walk(value, label)
        else:
            text = f"{label}: {node}" if label else str(node)
            lines.append(text if text.rstrip().endswith((".", "!", "?")) else f"{text}.")

    walk(data, "")
    return " ".join(lines)


def answer_from_tools(messages: list[dict], user: str, earlier_turns: str) -> str:
    """The answer from the conversation's tool results (and a `Context:` the user message holds),
    picked as answer() picks a context sentence; without either it does not know."""
    results = [_as_sentences(text_of(m.get("content"))) for m in messages if m["role"] == "tool"]
    context, question = split_prompt(user)
    given = [context] if "Context:" in user else []
    if not results and not given:
        return NO_ANSWER
    return answer(f"Context:\n{' '.join([*given, *results])}\n\nQuestion: {question}", earlier_turns)


# What the stand-in answers, by URL path; a capability in its own module adds its route (embeddings.py).
ROUTES: dict[str, Callable[[dict], dict]] = {"/chat/completions": complete}


def respond(path: str, request: dict) -> tuple[int, dict]:
    """(HTTP status, JSON body) the stand-in answers a request body sent to `path` with. Its
    in-process transport and the loopback server (fake_endpoint.py) both answer through it."""
    route = next((handler for suffix, handler in ROUTES.items() if path.endswith(suffix)), None)
    if route is None:
        return 404, {"error": {"code": "404", "message": f"offline model: no route {path}"}}
    return 200, route(request)


def transport(latency_ms: int = 0) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if latency_ms:
            time.sleep(latency_ms / 1000)
        status, body = respond(request.url.path, json.loads(request.content))
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)
