"""A deterministic stand-in for a chat model, for development and tests. It is not a model.

It answers OpenAI chat-completion requests by picking the context sentence that shares the most
words (at least two) with the question, cut to N words when the system prompt says "at most N
words"; it never repeats the system prompt, so it keeps the canary (safety.py). Asked for JSON
(`response_format: json_object`), it acts as a judge: a 1-5 score from word overlap between the
answer and the reference the judge prompt names (a safety judge: 5 for a refusal; groundedness and
relevance: 5 for an abstention when the ground truth abstains too, as their prompts ask). It sits behind
the real `openai` client as an httpx transport, so flows exercise the same client code path as
Azure OpenAI, with no server, port or network.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

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


def complete(request: dict) -> dict:
    """An OpenAI chat.completion response body for an OpenAI chat.completions request body."""
    user_turns = [m["content"] for m in request["messages"] if m["role"] == "user"]
    system = " ".join(m["content"] for m in request["messages"] if m["role"] == "system")
    prompt_text = " ".join(str(m["content"]) for m in request["messages"])
    user = user_turns[-1] if user_turns else ""
    if (request.get("response_format") or {}).get("type") == "json_object":
        text = judge(system, user)
    else:
        text = answer(user, " ".join(user_turns[:-1]))
        limit = _WORD_LIMIT.search(system)
        if limit and text != NO_ANSWER:
            text = " ".join(text.split()[: int(limit[1])])
    prompt_tokens, completion_tokens = len(words(prompt_text)), len(words(text))
    return {
        "id": "offline-0",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", "offline-extractive"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


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
