"""The shape of a validation problem, shared by experiment validation and data validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """Something wrong in an input file, said where: `file:line: message` or `file: key: message`."""

    file: Path | str
    message: str
    line: int | None = None  # a JSON Lines line (from 1; 0 for the file as a whole)
    key: str | None = None  # a key in a YAML file, e.g. `datasets[1].path`, or `flow qa`

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)  # 0: the file as a whole
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def report(problems: list[Problem]) -> str:
    """One problem per line, as the CLI prints them and errors carry them."""
    return "\n".join(map(str, problems))
