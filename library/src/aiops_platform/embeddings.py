"""Embeddings: a capability of the model provider, used by rag flows only.

`embed` goes through the same provider seam as chat (`llm.get_client`: the offline stand-in, Azure
OpenAI or OpenAI), in batches, traced like chat calls. Which embedding model, and whether retrieval
uses embeddings at all, follow the settings. Offline, this module adds an `/embeddings` route to the
stand-in: a hashed bag of words, so texts that share words get a high cosine, like a real model's.
"""

from __future__ import annotations

import math
import zlib
from typing import Literal

from aiops_platform import llm, offline_model, tracing
from aiops_platform.settings import Settings, get_settings

BATCH = 64
OFFLINE_MODEL = "offline-hashed-words"
OFFLINE_DIMENSIONS = 256


def model(settings: Settings) -> str | None:
    """The provider's embedding model; None when none is configured (retrieval then uses BM25)."""
    return {
        "azure_openai": settings.azure_openai_embedding_deployment,
        "openai": settings.openai_embedding_model,
        "offline": OFFLINE_MODEL,
    }[settings.provider]


def retriever(settings: Settings) -> Literal["bm25", "embeddings"]:
    """`auto`: embeddings once an online provider has an embedding model, else BM25."""
    if settings.aiops_retriever != "auto":
        return settings.aiops_retriever
    return "embeddings" if settings.provider != "offline" and model(settings) else "bm25"


def embed(texts: list[str]) -> list[list[float]]:
    """Embedding vectors for `texts`, in batches, traced like chat calls."""
    settings = get_settings()
    name = model(settings)
    if name is None:
        raise llm.ConfigError(
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT is not set (AIOPS_RETRIEVER=embeddings needs it)."
        )
    vectors: list[list[float]] = []
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        provider = llm.PROVIDER_NAMES[settings.provider]
        with tracing.model_call("embeddings", provider, name) as span:
            with llm.model_answer(settings, "embeddings"):
                response = llm.get_client().embeddings.create(model=name, input=batch)
                answered = [list(map(float, item.embedding)) for item in response.data]
                if len(answered) != len(batch) or not isinstance(response.model, str):
                    raise ValueError(f"{len(answered)} vectors for {len(batch)} texts")
                llm.counted(response.usage.prompt_tokens)
            tracing.record_usage(span, response.model, response.usage.prompt_tokens, 0)
        vectors.extend(answered)
    return vectors


def offline_vector(text: str) -> list[float]:
    """Hashed bag of words, unit length: texts sharing words get a high cosine, like a real model."""
    vector = [0.0] * OFFLINE_DIMENSIONS
    for word in offline_model.content_words(text):
        vector[zlib.crc32(word.encode()) % OFFLINE_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def offline_response(request: dict) -> dict:
    """An OpenAI embeddings response body for an embeddings request body."""
    texts = [request["input"]] if isinstance(request["input"], str) else request["input"]
    tokens = sum(len(offline_model.words(text)) for text in texts)
    return {
        "object": "list",
        "model": request.get("model", OFFLINE_MODEL),
        "data": [
            {"object": "embedding", "index": index, "embedding": offline_vector(text)}
            for index, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


offline_model.ROUTES["/embeddings"] = offline_response  # the stand-in answers embeddings requests too
