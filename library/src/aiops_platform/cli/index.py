"""`index`: chunk the project's documents and build the retrieval index (rag projects only)."""

from __future__ import annotations

import typer

from aiops_platform import paths
from aiops_platform.cli._common import console, fail
from aiops_platform.terminal import line


def build_index() -> None:
    """Chunk data/docs and build the retrieval index in .aiops/index (BM25, or embeddings if configured)."""
    from aiops_platform import retrieval  # numpy, bm25s and the model client: for this command only
    from aiops_platform.llm import ConfigError, ModelCallError

    try:
        manifest = retrieval.build(paths.root())
    except (retrieval.IndexNotReady, ConfigError, ModelCallError) as error:
        raise fail(error) from error
    indexed = "[green]Indexed[/] {} chunks from {} documents ({}) into {}"
    where = paths.INDEX / str(manifest["key"])
    console.print(line(indexed, manifest["chunks"], manifest["documents"], manifest["retriever"], where))


def register(app: typer.Typer) -> None:
    app.command("index")(build_index)
