"""Retrieval: documents are chunked, indexed by a command, and the right chunk comes back, offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import answers_into, sample_project
from typer.testing import CliRunner

from aiops_platform import llm, paths, retrieval
from aiops_platform.cli import app
from aiops_platform.settings import get_settings

DOC = """# Handbook

## 1

Balances are calibrated every six months. A daily check is recorded in the logbook.

## 2

Retained samples are stored for one year after expiry. The retention room is kept cool.
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rag project (the rag sample's answers) whose documents are DOC, as the working directory."""
    monkeypatch.setattr(retrieval, "CHUNK_WORDS", 16)  # one chunk per paragraph of DOC
    answers_into(tmp_path, sample_project("rag"))
    (tmp_path / "data/docs").mkdir(parents=True)
    (tmp_path / "data/docs/handbook.md").write_text(DOC, encoding="utf-8")
    retrieval._loaded.clear()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def embeddings_retriever(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIOPS_RETRIEVER", "embeddings")
    get_settings.cache_clear()
    llm.get_client.cache_clear()
    yield
    get_settings.cache_clear()


def test_paragraphs_are_packed_into_chunks_and_headings_dropped():
    assert retrieval.chunk_text(DOC, max_words=200) == [
        "Balances are calibrated every six months. A daily check is recorded in the logbook. "
        "Retained samples are stored for one year after expiry. The retention room is kept cool."
    ]
    assert len(retrieval.chunk_text(DOC, max_words=16)) == 2
    sentences = ["One two three.", "Four five six."]
    assert retrieval.chunk_text(" ".join(sentences), max_words=3) == sentences


def test_the_index_command_builds_a_bm25_index_offline(project: Path):
    result = CliRunner().invoke(app, ["index"])
    assert result.exit_code == 0, result.output
    (manifest_file,) = (project / ".aiops/index").glob("*/manifest.json")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    assert (manifest["retriever"], manifest["documents"]) == ("bm25", 1)
    (best, *_) = retrieval.retrieve("How long are retained samples stored?", 2, project)
    assert best.text.startswith("Retained samples") and best.source == "handbook.md"


def test_the_rag_sample_s_documents_are_indexed_and_answer_its_questions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The documents a rag project ships (data/docs), indexed by `index` in a copy of it."""
    rag = sample_project("rag")
    answers_into(tmp_path, rag)
    shutil.copytree(rag / paths.DOCS, tmp_path / paths.DOCS)
    monkeypatch.chdir(tmp_path)
    retrieval._loaded.clear()
    result = CliRunner().invoke(app, ["index"])
    assert result.exit_code == 0, result.output
    documents = sorted(path.name for path in (rag / paths.DOCS).iterdir())
    assert f"from {len(documents)} documents (bm25)" in result.output
    (best, *_) = retrieval.retrieve("How often are balances calibrated?", 3, tmp_path)
    assert best.source in documents and "calibrat" in best.text.lower()


def test_a_changed_document_rebuilds_the_bm25_index_on_first_use(project: Path):
    retrieval.build(project)
    (project / "data/docs/extra.md").write_text("Pipettes are serviced every year.\n", encoding="utf-8")
    retrieval._loaded.clear()
    (best,) = retrieval.retrieve("When are pipettes serviced?", 1, project)
    assert best.source == "extra.md"


def test_no_documents_is_a_clear_error(tmp_path: Path):
    (tmp_path / "data/docs").mkdir(parents=True)
    with pytest.raises(retrieval.IndexNotReady, match=r"no \.md or \.txt documents"):
        retrieval.build(tmp_path)
    (tmp_path / "data/docs/empty.md").write_text("# Only a heading\n", encoding="utf-8")
    with pytest.raises(retrieval.IndexNotReady, match="no text to index"):
        retrieval.build(tmp_path)
    assert not list(tmp_path.rglob(".staging-*"))  # a failed build leaves nothing behind


def test_processes_that_build_the_index_at_once_all_get_it(project: Path):
    """Prompt Flow's workers each find no index and build it; none may see another's half-built one."""
    script = (
        "import sys; from pathlib import Path; "
        "from aiops_platform import retrieval; "
        "print(retrieval.retrieve('How long are retained samples stored?', 1, Path(sys.argv[1]))[0].source)"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(project)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    assert [worker.communicate(timeout=120)[0].strip() for worker in workers] == ["handbook.md"] * 6
    assert all(worker.returncode == 0 for worker in workers)
    assert len([p for p in (project / ".aiops/index").iterdir() if not p.name.startswith(".")]) == 1


def test_the_embedding_retriever_finds_the_same_chunk(project: Path, embeddings_retriever):
    manifest = retrieval.build(project)
    assert manifest["retriever"] == "embeddings" and manifest["embedding_model"] == "offline-hashed-words"
    (best,) = retrieval.retrieve("How long are retained samples stored?", 1, project)
    assert best.text.startswith("Retained samples")


def test_a_stale_embedding_index_names_the_command_instead_of_calling_the_model(
    project: Path, embeddings_retriever, monkeypatch: pytest.MonkeyPatch
):
    with pytest.raises(retrieval.IndexNotReady, match="run `make index`"):
        retrieval.retrieve("anything", 1, project)
    retrieval.build(project)
    monkeypatch.setenv("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", "another-model")
    monkeypatch.setenv("LLM_PROVIDER", "azure_openai")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://unused.invalid/")
    get_settings.cache_clear()
    retrieval._loaded.clear()
    with pytest.raises(retrieval.IndexNotReady, match="run `make index`"):  # vectors of another model
        retrieval.retrieve("anything", 1, project)
