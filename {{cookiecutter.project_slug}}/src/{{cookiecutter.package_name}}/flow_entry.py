"""A flow's entry, its input references, and JSON Lines: each defined here once.

- Entries: a flow folder (its `flow.flex.yaml` names `module:callable`) or a `file.py:Callable`
  path; a class entry is instantiated, as Prompt Flow does.
- References: `${data.column}` and `${run.outputs.field}` in column mappings, with Prompt Flow's
  meaning. The schema's patterns, parsing and resolving all live here.
- JSON Lines: datasets, span files, results and index chunks are read (and written) here, with
  line numbers, so every caller reports a bad line the same way: `file:line: what is wrong`.

Every engine, the CLI, the monitor and data validation go through this module.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

# ---- entries ----------------------------------------------------------------------------------

FLEX_SPEC = "flow.flex.yaml"


def entry_of(flow: Path) -> tuple[Path, str]:
    """(module file, callable name) for a flow folder (its flow.flex.yaml) or a `file.py:Callable` path."""
    file_part, _, attribute = str(flow).partition(":")
    if attribute:
        return Path(file_part), attribute
    spec = yaml.safe_load((flow / FLEX_SPEC).read_text(encoding="utf-8"))
    module_name, _, attribute = spec["entry"].partition(":")
    return flow / f"{module_name.replace('.', '/')}.py", attribute


def entry_file(flow: Path) -> Path:
    """The file that must exist for `flow` to load: the folder, or the `file.py` of `file.py:Callable`."""
    return Path(str(flow).partition(":")[0])


def load_entry(flow: Path) -> Callable[..., Any]:
    """The flow's callable; a class entry is instantiated, as Prompt Flow does."""
    module_path, attribute = entry_of(flow)
    unique_name = f"_flow_{module_path.resolve().as_posix().replace('/', '_').removesuffix('.py')}"
    module_spec = importlib.util.spec_from_file_location(unique_name, module_path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {module_path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    entry = getattr(module, attribute)
    return entry() if inspect.isclass(entry) else entry


def entry_parameters(flow: Path) -> list[str]:
    return list(inspect.signature(load_entry(flow)).parameters)


# ---- references -------------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Patterns for the experiment schema (and so for editors); spelled without `{` + `{` for the template.
DATA_REFERENCE = r"^\$\{data\." + _NAME + r"\}$"
REFERENCE = r"^\$\{(data|run\.outputs)\." + _NAME + r"\}$"
_REFERENCE = re.compile(REFERENCE)
Source = Literal["data", "run.outputs"]


@dataclass(frozen=True)
class Reference:
    source: Source
    name: str

    def __str__(self) -> str:
        return "${" + f"{self.source}.{self.name}" + "}"


def parse_reference(text: object) -> Reference | None:
    """`${data.x}` or `${run.outputs.x}` as a Reference; anything else (a literal input, such as a
    variant's `top_k: 1`) is None."""
    if not isinstance(text, str) or not _REFERENCE.match(text):
        return None
    source, _, name = text[2:-1].rpartition(".")
    return Reference(source, name)  # type: ignore[arg-type]  # the pattern admits only the two sources


def data_reference(column: str) -> str:
    return str(Reference("data", column))


def output_reference(field: str) -> str:
    return str(Reference("run.outputs", field))


def data_columns(mapping: dict[str, str]) -> set[str]:
    """The dataset columns a mapping reads."""
    references = [parse_reference(value) for value in mapping.values()]
    return {reference.name for reference in references if reference and reference.source == "data"}


def resolve_inputs(mapping: dict[str, str], row: dict[str, Any], outputs: dict[str, Any] | None) -> dict:
    """Apply `${data.x}` / `${run.outputs.y}` as Prompt Flow does; any other value is a literal."""
    inputs = {}
    for name, value in mapping.items():
        reference = parse_reference(value)
        if reference is None:
            inputs[name] = value
        elif reference.source == "data":
            inputs[name] = row[reference.name]
        else:
            inputs[name] = (outputs or {})[reference.name]
    return inputs


# ---- JSON Lines -------------------------------------------------------------------------------


class JsonLinesError(ValueError):
    """A line that is not JSON; the message is `file:line: not valid JSON (...)`."""


@dataclass(frozen=True)
class Line:
    """One non-blank line: its number (from 1), and its value or why it is not JSON."""

    number: int
    value: Any = None
    error: str | None = None


def lines(path: Path) -> Iterator[Line]:
    """Every non-blank line of a JSON Lines file, parsed, with its line number; bad lines say why."""
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            if number == 1 and text.startswith("\ufeff"):
                yield Line(number, error="starts with a byte-order mark (BOM); save it as UTF-8 without one")
                continue
            try:
                yield Line(number, json.loads(text))
            except json.JSONDecodeError as error:
                yield Line(number, error=f"not valid JSON ({error.msg}, column {error.colno})")


def read_jsonl(path: Path, limit: int | None = None) -> list[Any]:
    """The values of the first `limit` lines (all by default); a bad line raises JsonLinesError."""
    values: list[Any] = []
    for line in lines(path):
        if limit is not None and len(values) >= limit:
            break
        if line.error is not None:
            raise JsonLinesError(f"{path}:{line.number}: {line.error}")
        values.append(line.value)
    return values


def write_jsonl(path: Path, values: Iterable[Any]) -> None:
    """One compact JSON document per line (UTF-8 kept as is), replacing the file."""
    with path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(value, ensure_ascii=False) + "\n" for value in values)
