"""A deterministic stand-in for a chat model, for development and tests. It is not a model.

It answers OpenAI chat-completion requests by picking the context sentence that shares the most
words with the question. It sits behind the real `openai` client as an httpx transport, so flows
exercise the same client code path as Azure OpenAI, with no server, port or network.
"""

from __future__ import annotations

import json
import re

import httpx

NO_ANSWER = "I don't know based on the provided context."
BASE_URL = "http://offline.invalid/v1"
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
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


def answer(prompt: str) -> str:
    context, question = split_prompt(prompt)
    wanted = set(words(question)) - _STOPWORDS
    best, best_overlap = NO_ANSWER, 0
    for sentence in _SENTENCE_END.split(context.strip()):
        overlap = len(wanted & set(words(sentence)))
        if overlap > best_overlap:
            best, best_overlap = sentence.strip(), overlap
    return best


def complete(request: dict) -> dict:
    """An OpenAI chat.completion response body for an OpenAI chat.completions request body."""
    user_turns = [m["content"] for m in request["messages"] if m["role"] == "user"]
    prompt_text = " ".join(str(m["content"]) for m in request["messages"])
    text = answer(user_turns[-1] if user_turns else "")
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


def _handle(request: httpx.Request) -> httpx.Response:
    if not request.url.path.endswith("/chat/completions"):
        return httpx.Response(404, json={"error": {"message": f"offline model: no route {request.url.path}"}})
    return httpx.Response(200, json=complete(json.loads(request.content)))


def transport() -> httpx.MockTransport:
    return httpx.MockTransport(_handle)
