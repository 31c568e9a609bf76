"""`cache`: the response cache of online model calls (.aiops/cache/llm): size, prune, clear."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from aiops_platform.cli._common import console, fail
from aiops_platform.terminal import line

if TYPE_CHECKING:  # the model client (openai) loads for these commands only
    from aiops_platform import llm

app = typer.Typer(no_args_is_help=True, help="The response cache of online model calls.")

DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _cache() -> llm.ResponseCache:
    """The folder the settings point at, even where the cache is off: clearing it must still work."""
    from aiops_platform import llm

    return llm.ResponseCache(llm.cache_folder(llm.get_settings()))


@app.command("stats")
def stats() -> None:
    """Entries and size on disk."""
    cache = _cache()
    entries, size = cache.stats()
    said = line("{} cached answers, {:,.1f} KiB in {}", entries, size / 1024, cache.folder)
    console.print(said, soft_wrap=True)


@app.command("prune")
def prune(
    unused_for: Annotated[
        str, typer.Option(help="Remove answers no run read or wrote for this long: 90m, 2h, 7d")
    ] = "7d",
) -> None:
    """Keep what recent runs used. CI prunes before saving its cache, so the saved cache holds the
    answers the current prompts ask for and does not grow with every prompt ever tried."""
    match = DURATION.fullmatch(unused_for.strip())
    if not match:
        raise fail("--unused-for {!r}: give a number and a unit, e.g. 90m, 2h or 7d", unused_for, code=2)
    removed, kept = _cache().prune(float(match[1]) * SECONDS[match[2]])
    console.print(line("Removed {} cached answers unused for {}; kept {}", removed, unused_for, kept))


@app.command("clear")
def clear() -> None:
    """Remove every cached answer: the next online run calls the model again."""
    console.print(line("Removed {} cached answers", _cache().clear()))
