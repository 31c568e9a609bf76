"""A deterministic stand-in for a chat model, for development and tests. It is not a model.

It answers OpenAI chat-completion requests by picking the context sentence that shares the most
words with the question (cut to N words when the system prompt says "at most N words"). Asked
for JSON (`response_format: json_object`), it acts as a judge: a 1-5 score from word overlap
between the answer and the reference the judge prompt names. It sits behind the real `openai`
client as an httpx transport, so flows exercise the same client code path as Azure OpenAI, with
no server, port or network.
"""

from __future__ import annotations

import json
{%- if cookiecutter.flow_kind == 'rag' %}
import math
{%- endif %}
import re
import time
{%- if cookiecutter.flow_kind == 'rag' %}
import zlib
{%- endif %}

import httpx

NO_ANSWER = "I don't know based on the provided context."
BASE_URL = "http://offline.invalid/v1"
{%- if cookiecutter.flow_kind == 'rag' %}
EMBEDDING_DIMENSIONS = 256
{%- endif %}
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD_LIMIT = re.compile(r"at most (\d+) words", re.IGNORECASE)
_SECTION = re.compile(r"^(Question|Context|Answer|Ground truth):[ \t]*", re.MULTILINE)
# judge name in the system prompt -> the section its answer is compared with (None: form only)
JUDGE_REFERENCES = {
    "groundedness": "Context",
    "relevance": "Question",
    "similarity": "Ground truth",
    "coherence": None,
    "fluency": None,
}
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


def split_prompt(prompt: str) -> tuple[str, str]:
    """(context, question) from `Context:` / `Question:` sections, else (whole prompt, last line)."""
    context, marker, question = prompt.rpartition("Question:")
    if not marker:
        lines = prompt.strip().splitlines() or [""]
        return prompt, lines[-1]
    return context.replace("Context:", "", 1).strip(), question.strip()


def answer(prompt: str, earlier_turns: str = "") -> str:
    """Earlier user turns only break ties, as a follow-up's topic ("and who signs it?")."""
    context, question = split_prompt(prompt)
    wanted = set(words(question)) - _STOPWORDS
    topic = set(words(earlier_turns)) - _STOPWORDS
    best, best_score = NO_ANSWER, (0, 0)
    for sentence in _SENTENCE_END.split(context.strip()):
        sentence_words = set(words(sentence))
        score = (len(wanted & sentence_words), len(topic & sentence_words))
        if score[0] and score > best_score:
            best, best_score = sentence.strip(), score
    return best


def sections(prompt: str) -> dict[str, str]:
    parts = _SECTION.split(prompt)
    return {name: text.strip() for name, text in zip(parts[1::2], parts[2::2], strict=True)}


def judge(system: str, prompt: str) -> str:
    """JSON {"score": 1-5, "reason": ...}: overlap of the answer's words with the reference."""
    name = next((n for n in JUDGE_REFERENCES if n in system.lower()), "relevance")
    found = sections(prompt)
    answer_words = set(words(found.get("Answer", ""))) - _STOPWORDS
    reference = JUDGE_REFERENCES[name]
    if reference is None:
        ratio = min(len(words(found.get("Answer", ""))) / 6, 1.0)
    else:
        reference_words = set(words(found.get(reference, ""))) - _STOPWORDS
        ratio = len(answer_words & reference_words) / max(len(answer_words), 1)
    score = 1 + round(4 * ratio)
    return json.dumps({"score": score, "reason": f"offline stand-in: {name} overlap {ratio:.2f}"})


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


{% if cookiecutter.flow_kind == 'rag' -%}
def embedding(text: str) -> list[float]:
    """Hashed bag of words, unit length: texts sharing words get a high cosine, like a real model."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in set(words(text)) - _STOPWORDS:
        vector[zlib.crc32(word.encode()) % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def embeddings(request: dict) -> dict:
    """An OpenAI embeddings response body for an embeddings request body."""
    texts = [request["input"]] if isinstance(request["input"], str) else request["input"]
    tokens = sum(len(words(text)) for text in texts)
    return {
        "object": "list",
        "model": request.get("model", "offline-hashed-words"),
        "data": [{"object": "embedding", "index": i, "embedding": embedding(t)} for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


{% endif -%}
def transport(latency_ms: int = 0) -> httpx.MockTransport:
{%- if cookiecutter.flow_kind == 'rag' %}
    routes = {"/chat/completions": complete, "/embeddings": embeddings}
{%- else %}
    routes = {"/chat/completions": complete}
{%- endif %}

    def handle(request: httpx.Request) -> httpx.Response:
        route = next((handler for path, handler in routes.items() if request.url.path.endswith(path)), None)
        if route is None:
            return httpx.Response(
                404, json={"error": {"message": f"offline model: no route {request.url.path}"}}
            )
        time.sleep(latency_ms / 1000)
        return httpx.Response(200, json=route(json.loads(request.content)))

    return httpx.MockTransport(handle)
