"""The shape of a validation problem, shared by experiment validation and data validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiops_platform.terminal import visible


@dataclass(frozen=True)
class Problem:
    """Something wrong in an input file, said where: `file:line: message` or `file: key: message`.

    One line, whatever it quotes: a line break or escape in the file's text is shown as its escape."""

    file: Path | str
    message: str
    line: int | None = None  # a JSON Lines line (from 1; 0 for the file as a whole)
    key: str | None = None  # a key in a YAML file, e.g. `datasets[1].path`, or `flow qa`

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)  # 0: the file as a whole
        return visible(f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}")


def yaml_reason(error: Exception) -> str:
    """A YAML parser's error as one line, `line L, column C: what`, without its multi-line excerpt."""
    mark, what = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    reason = what or str(error).strip().splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {reason}" if mark else reason


def report(problems: list[Problem]) -> str:
    """One problem per line, as the CLI prints them and errors carry them."""
    return "\n".join(map(str, problems))
