"""A flow's entry and its input references: each defined here once.

- Entries: a flow folder (its `flow.flex.yaml` names `module:callable`) or a `file.py:Callable`
  path; a class entry is instantiated, as Prompt Flow does. Only files inside the project are read
  or imported (`paths.inside_project`, links followed).
- References: `${data.column}` and `${run.outputs.field}` in column mappings, with Prompt Flow's
  meaning. The schema's patterns, parsing and resolving all live here.
Every engine, the CLI and the server load flows through this module; JSON Lines are jsonl.py's.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import re
import site
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

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
    entry = getattr(import_file(module_path, "_flow_"), attribute)
    # a class entry's instances are callable (Prompt Flow calls them); mypy types `entry()` as object
    return cast(Callable[..., Any], entry()) if inspect.isclass(entry) else entry


class NotAPythonFile(ImportError):
    """Python cannot load the file as a module (not a .py file)."""


def import_file(path: Path, prefix: str) -> types.ModuleType:
    """Run a project's Python file as a module of its own, named after its path (`prefix` + path), so
    two projects' `flow.py` never share one. NotAPythonFile when it is none; the file's own errors
    (an import it lacks) as they are."""
    name = f"{prefix}{path.resolve().as_posix().replace('/', '_').removesuffix('.py')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NotAPythonFile(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def resolve_inputs(
    mapping: Mapping[str, object], row: dict[str, Any], outputs: dict[str, Any] | None
) -> dict:
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
