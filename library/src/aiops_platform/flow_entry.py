"""A flow's entry, its input references, and JSON Lines: each defined here once.

- Entries: a flow folder (its `flow.flex.yaml` names `module:callable`) or a `file.py:Callable`
  path; a class entry is instantiated, as Prompt Flow does. Only files inside the project are read
  or imported (`paths.inside_project`, links followed).
- References: `${data.column}` and `${run.outputs.field}` in column mappings, with Prompt Flow's
  meaning. The schema's patterns, parsing and resolving all live here.
- JSON Lines: datasets, span files, results and index chunks are read (and written) here, with
  line numbers, so every caller reports a bad line the same way: `file:line: what is wrong`,
  including a file in another encoding than UTF-8 (which byte, where, and the fix).

Every engine, the CLI, the monitor and data validation go through this module.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import json
import re
import site
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from aiops_platform import paths

# ---- entries ----------------------------------------------------------------------------------

FLEX_SPEC = "flow.flex.yaml"


def entry_of(flow: Path, start: Path | None = None) -> tuple[Path, str]:
    """(module file, callable name) for a flow folder (its flow.flex.yaml) or a `file.py:Callable` path.

    The folder, its spec and the module must lie in the project at `start`: paths.OutsideProject
    otherwise, before anything is read or imported. An experiment passes its own folder; without
    `start` (a flow the command line or the server was given) the flow's own project is the bound,
    so its flow.flex.yaml cannot point elsewhere, nor its `additional_includes` (Prompt Flow copies
    them over the flow's own files before it imports the entry). Nor may the module's name be one Python finds
    elsewhere (`os`, `json`, an installed package): Prompt Flow imports the entry by name, and would
    run that module instead of the file checked here."""
    start = entry_file(flow) if start is None else start
    file_part, _, attribute = str(flow).partition(":")
    if attribute:
        module = paths.inside_project(Path(file_part), f"entry {file_part}", start)
        return _named_only_here(module, module.stem, f"entry {file_part}", module.parent), attribute
    spec_file = paths.inside_project(flow / FLEX_SPEC, f"flow {flow}", start)
    spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    for include in spec.get("additional_includes") or []:  # copied over the flow's files by Prompt Flow
        paths.inside_project(flow / str(include), f"additional include {include!r} of {spec_file}", start)
    module_name, _, attribute = spec["entry"].partition(":")
    module = flow / f"{module_name.replace('.', '/')}.py"
    what = f"entry {spec['entry']!r} of {spec_file}"
    inside = paths.inside_project(module, what, start)
    return _named_only_here(inside, module_name, what, flow), attribute


def _named_only_here(module: Path, module_name: str, what: str, folder: Path) -> Path:
    """`module` when the top of `module_name` is not also a module Python imports from elsewhere (the
    standard library, an installed package, one already imported); else paths.OutsideProject."""
    top = module_name.partition(".")[0]
    elsewhere = "the standard library" if top in sys.stdlib_module_names else _found_outside(top, folder)
    if elsewhere:
        raise paths.OutsideProject(
            f"{what} names module {top!r}, which Python imports from {elsewhere}, not {module}; "
            "rename the file (only files inside the project are read or run)"
        )
    return module


def _found_outside(name: str, folder: Path) -> str | None:
    """Where `name` is an installed package (site-packages), which a Prompt Flow worker may have
    imported before the flow. Not sys.modules or sys.path: what this process imported or added
    earlier (another flow's `flow`, Prompt Flow's scratch copies) is no place a new worker imports from."""
    installed = [*site.getsitepackages(), site.getusersitepackages()]
    try:
        found = importlib.machinery.PathFinder.find_spec(name, installed)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    places = [found.origin] if found.origin else list(found.submodule_search_locations or [])
    outside = [place for place in places if not Path(place).resolve().is_relative_to(folder.resolve())]
    return outside[0] if outside else None


def entry_file(flow: Path) -> Path:
    """The file that must exist for `flow` to load: the folder, or the `file.py` of `file.py:Callable`."""
    return Path(str(flow).partition(":")[0])


def load_entry(flow: Path, start: Path | None = None) -> Callable[..., Any]:
    """The flow's callable (from the project at `start`, see `entry_of`); a class entry is
    instantiated, as Prompt Flow does."""
    module_path, attribute = entry_of(flow, start)
    unique_name = f"_flow_{module_path.resolve().as_posix().replace('/', '_').removesuffix('.py')}"
    module_spec = importlib.util.spec_from_file_location(unique_name, module_path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {module_path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    entry = getattr(module, attribute)
    return entry() if inspect.isclass(entry) else entry


def entry_parameters(flow: Path, start: Path | None = None) -> list[str]:
    return list(inspect.signature(load_entry(flow, start)).parameters)


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


SAVE_AS_UTF8 = "save the file as UTF-8"
# Bytes that are not UTF-8 are kept as these stand-ins (errors="surrogateescape"), so a bad line is
# named with its byte and column instead of ending the read with a UnicodeDecodeError.
_UNDECODED = re.compile("[\udc80-\udcff]")
_UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")  # FF FE, FE FF: UTF-16's byte-order marks


def _encoding_error(number: int, text: str) -> str | None:
    """Why line `number` is not UTF-8 text, or None. UTF-16 shows on the first line."""
    if number == 1 and text.startswith(_UTF16_BOMS):
        return f"not UTF-8: UTF-16 (it starts with a UTF-16 byte-order mark); {SAVE_AS_UTF8}"
    undecoded = _UNDECODED.search(text)
    if undecoded:
        byte = ord(undecoded[0]) - 0xDC00
        return f"not UTF-8 (byte 0x{byte:02x} at column {undecoded.start() + 1}); {SAVE_AS_UTF8}"
    if "\x00" in text:
        return f"not UTF-8: it holds NUL bytes (UTF-16 without a byte-order mark?); {SAVE_AS_UTF8}"
    return None


def lines(path: Path) -> Iterator[Line]:
    """Every non-blank line of a JSON Lines file, parsed, with its line number; bad lines say why.
    A UTF-16 file is one problem, on its first line (every line of it would be)."""
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            encoding_error = _encoding_error(number, text)
            if encoding_error is not None:
                yield Line(number, error=encoding_error)
                if "UTF-16" in encoding_error:
                    return
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
