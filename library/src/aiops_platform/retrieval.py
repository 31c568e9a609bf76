"""Chunking, a local index and top-k retrieval over the project's documents (`data/docs/`).

Offline the index is BM25 (bm25s: numpy only, no model download, no torch). With an online provider
and an embedding model configured it stores embedding vectors instead, searched by cosine. Each index
lives in a folder named after the documents, retriever and model it was built from; a missing
BM25 index is built on first use (it takes milliseconds), a missing embedding index is an error
naming `make index`, since building it costs calls.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiops_platform import embeddings, tracing
from aiops_platform.jsonl import read_jsonl, write_jsonl
from aiops_platform.paths import DOCS, INDEX
from aiops_platform.settings import get_settings

if TYPE_CHECKING:  # numpy and bm25s load with the first index built or read, not with the flow's module
    import bm25s
    import numpy as np

CHUNK_WORDS = 80
DOC_SUFFIXES = (".md", ".txt")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_lock = threading.Lock()
_loaded: dict[Path, Index] = {}  # project -> its index, resolved on the first question


class IndexNotReady(RuntimeError):
    """The index is missing or stale and cannot be rebuilt here; the message names the command."""


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    text: str


def chunk_text(text: str, max_words: int = CHUNK_WORDS) -> list[str]:
    """Paragraphs packed up to `max_words`; a longer paragraph is split at sentence ends."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(line for line in paragraph.splitlines() if not line.lstrip().startswith("#"))
        if not paragraph.strip():
            continue
        if len(paragraph.split()) <= max_words:
            pieces.append(paragraph.strip())
        else:
            pieces.extend(sentence.strip() for sentence in _SENTENCE_END.split(paragraph) if sentence.strip())
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1].split()) + len(piece.split()) <= max_words:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks


def chunk_documents(docs: Path, max_words: int) -> list[Chunk]:
    files = sorted(path for path in docs.rglob("*") if path.suffix in DOC_SUFFIXES)
    if not files:
        raise IndexNotReady(f"{docs}: no {' or '.join(DOC_SUFFIXES)} documents to index")
    chunks: list[Chunk] = []
    for path in files:
        source = path.relative_to(docs).as_posix()
        texts = chunk_text(path.read_text(encoding="utf-8"), max_words)
        chunks.extend(Chunk(f"{source}#{number}", source, text) for number, text in enumerate(texts, 1))
    return chunks


def fingerprint(docs: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in docs.rglob("*") if p.suffix in DOC_SUFFIXES):
        digest.update(path.relative_to(docs).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _tokens(texts: list[str]) -> bm25s.tokenization.Tokenized:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", show_progress=False)


def _unit(vectors: list[list[float]]) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def index_key(docs: Path) -> str:
    """Names the index folder: the documents, the retriever and (for embeddings) the model.

    An index is never changed in place: a new key means a new folder, so a process still reading
    an older index is never disturbed, and a stale one is simply not found.
    """
    settings = get_settings()
    retriever = embeddings.retriever(settings)
    model = embeddings.model(settings) if retriever == "embeddings" else ""
    return hashlib.sha256(f"{fingerprint(docs)}\0{retriever}\0{model}".encode()).hexdigest()[:16]


def build(project: Path, prune: bool = True) -> dict[str, object]:
    """Chunk data/docs into a new index folder (a temp folder renamed into place).

    Concurrent builders (Prompt Flow's workers) of the same key produce the same files: the first
    rename wins and the others discard theirs. `prune` removes the folders of other keys.
    """
    import bm25s
    import numpy as np

    docs, root = project / DOCS, project / INDEX
    retriever = embeddings.retriever(get_settings())
    chunks = chunk_documents(docs, CHUNK_WORDS)
    if not chunks:
        raise IndexNotReady(f"{docs}: the documents have no text to index")
    key = index_key(docs)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        write_jsonl(staging / "chunks.jsonl", map(asdict, chunks))
        if retriever == "bm25":
            model = bm25s.BM25()
            model.index(_tokens([chunk.text for chunk in chunks]), show_progress=False)
            model.save(str(staging / "bm25"))
        else:
            np.save(staging / "vectors.npy", _unit(embeddings.embed([chunk.text for chunk in chunks])))
        manifest: dict[str, object] = {
            "key": key,
            "retriever": retriever,
            "embedding_model": embeddings.model(get_settings()) if retriever == "embeddings" else None,
            "chunks": len(chunks),
            "chunk_words": CHUNK_WORDS,
            "documents": len({chunk.source for chunk in chunks}),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        try:
            staging.rename(root / key)
        except OSError:  # an identical build by another process got there first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if prune:
        for folder in root.iterdir():
            if folder.name != key and not folder.name.startswith("."):
                shutil.rmtree(folder, ignore_errors=True)
    return manifest


class Index:
    def __init__(self, folder: Path) -> None:
        import bm25s
        import numpy as np

        self.manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        self.chunks = [Chunk(**fields) for fields in read_jsonl(folder / "chunks.jsonl")]
        if self.manifest["retriever"] == "bm25":
            self._bm25 = bm25s.BM25.load(str(folder / "bm25"))
        else:
            self._vectors = np.load(folder / "vectors.npy")

    def search(self, question: str, top_k: int) -> list[Chunk]:
        import numpy as np

        top_k = min(top_k, len(self.chunks))
        if self.manifest["retriever"] == "bm25":
            ids, scores = self._bm25.retrieve(_tokens([question]), k=top_k, show_progress=False)
            return [self.chunks[i] for i, score in zip(ids[0], scores[0], strict=True) if score > 0]
        similarities = self._vectors @ _unit(embeddings.embed([question]))[0]
        return [self.chunks[i] for i in np.argsort(-similarities, kind="stable")[:top_k]]


def load(project: Path) -> Index:
    """The index for the current documents, retriever and model, found once per process.

    Finding it hashes every document, so it happens on the first question only, not on each one.
    """
    with _lock:
        if project not in _loaded:
            folder = project / INDEX / index_key(project / DOCS)
            if not folder.is_dir():
                retriever = embeddings.retriever(get_settings())
                if retriever != "bm25":
                    raise IndexNotReady(f"{project / INDEX}: no current {retriever} index; run `make index`")
                build(project, prune=False)
            _loaded[project] = Index(folder)
        return _loaded[project]


def retrieve(question: str, top_k: int, project: Path) -> list[Chunk]:
    with tracing.tracer().start_as_current_span(
        "retrieve", attributes={"aiops.retrieval.top_k": top_k}
    ) as span:
        index = load(project)
        chunks = index.search(question, top_k)
        span.set_attribute("aiops.retrieval.retriever", index.manifest["retriever"])
        span.set_attribute("aiops.retrieval.chunk_ids", [chunk.id for chunk in chunks])
    return chunks
