"""The one place that knows where the project is and how it is laid out.

The project root is the nearest folder, at or above the working directory (or a given start), that
holds `experiment.yaml`; without one, the start itself. So a command run from `flows/qa/`, Prompt
Flow's workers and the server all find the same `.aiops/` and `.env`. Everything else is a fixed
place under the root, named here once: CLI defaults use these relative names, state lives under
`root()`.

Code that runs where no marker is above it (Prompt Flow runs a flow with `additional_includes` from
a temporary copy) finds its project with `project()`: the one this package was installed from.

A file named in configuration (a flow, an evaluator, a dataset, a data spec, a prompt) is opened or
imported only when `inside()` says it lies in its folder, symlinks followed: nothing an experiment
file names runs or is read from elsewhere.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

MARKER = "experiment.yaml"  # the file that makes a folder the project root
# The platform's distribution: a project is an installed distribution that requires it.
PLATFORM = "aiops-genai-platform"

# The project's own files and folders, relative to the root.
EXPERIMENT = Path(MARKER)
ENV_FILE = Path(".env")
DATA = Path("data")
DOCS = DATA / "docs"  # the documents a rag flow retrieves from
CONNECTIONS = Path("connections")
FLOWS = Path("flows")
JUDGES_FLOW = FLOWS / "eval_judges"
MONITORING = Path("monitoring")
MONITORING_CONFIG = MONITORING / "config.yaml"
ALERT_PARAMETERS = MONITORING / "alerts.parameters.json"
DEPLOYMENT = Path("deployment")
SAMPLE_REQUEST = DEPLOYMENT / "sample_request.json"
AML_SPECS = DEPLOYMENT / "aml"
RESULTS = Path("results")
ONLINE_SCORES = RESULTS / "online" / "scores.json"
SAMPLE_NAME = "production_samples"  # production requests sampled: <STATE>/samples/<name>.jsonl (monitor.py)
AZUREML_SPECS = Path("azureml")

# Local state: git-ignored, rebuilt by the commands that own it.
STATE = Path(".aiops")
REGISTRY = STATE / "registry"  # local data-asset registry (registry.py)
TRACES = STATE / "traces"  # span store (tracing.py, monitor.py)
INDEX = STATE / "index"  # retrieval indexes (rag)
LLM_CACHE = STATE / "cache" / "llm"  # model answers, one JSON file per call (llm.ResponseCache)
PROMPTFLOW_HOME = Path(".promptflow")  # Prompt Flow's home: runs and connections

TRACE_DIR_VARIABLE = "AIOPS_TRACE_DIR"  # where spans go, absolute; inherited by worker processes


def _marked(here: Path) -> Path | None:
    return next((folder for folder in (here, *here.parents) if (folder / MARKER).is_file()), None)


def root(start: Path | None = None) -> Path:
    """The project root for `start` (default: the working directory), absolute."""
    here = (start or Path.cwd()).resolve()
    return _marked(here) or here


@functools.cache
def installed_project() -> Path | None:
    """The project folder installed (editable, as `make install` does) in this environment, if it
    still holds the marker: the one distribution that requires the platform and records a local
    source folder (`direct_url.json`, PEP 610). None without one, or with several."""
    from urllib.request import url2pathname  # here: urllib.request is slow to import

    found = set()
    for distribution in metadata.distributions():
        if not any(_names(requirement) == PLATFORM for requirement in distribution.requires or ()):
            continue
        url = urlparse(json.loads(distribution.read_text("direct_url.json") or "{}").get("url", ""))
        folder = Path(url2pathname(url.path)) if url.scheme == "file" else None  # percent-decoded
        if folder is not None and (folder / MARKER).is_file():
            found.add(folder.resolve())
    return found.pop() if len(found) == 1 else None


def _names(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503)."""
    name = requirement.split(";")[0].split("@")[0].split("[")[0]
    for stop in "=<>!~ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


def project(start: Path | None = None) -> Path:
    """The project that code running at `start` (default: the working directory) belongs to.

    The root above `start` when there is one. Else the project this package was installed from:
    `pf flow test`, `pf flow serve` and `pf run` run a flow that has `additional_includes` from a
    temporary copy of its folder, with no marker above it. Else `start` itself: a `pf flow build`
    output has no project (in its image, the flow folder /flow).
    """
    here = (start or Path.cwd()).resolve()
    return _marked(here) or installed_project() or here


def trace_dir() -> Path:
    """AIOPS_TRACE_DIR when set (the CLI sets it absolute for Prompt Flow's workers), else the
    project's store (see `project()`; in a `pf flow build` image: /flow/.aiops/traces)."""
    return Path(os.environ.get(TRACE_DIR_VARIABLE) or project() / TRACES)


class OutsideProject(ValueError):
    """A file named in configuration that lies outside where it may: it is never opened or imported."""


def inside(path: Path, folder: Path, what: str, folder_is: str = "the folder") -> Path:
    """`path` resolved (symlinks followed) when it lies in `folder`; else OutsideProject, one line
    naming `what` (the file, as the configuration names it) and, for a symlink, where it leads."""
    resolved, allowed = Path(path).resolve(), Path(folder).resolve()
    if resolved.is_relative_to(allowed):
        return resolved
    leads = f" (a link to {resolved})" if resolved != Path(os.path.abspath(path)) else ""
    message = f"{what}{leads} is outside {folder_is} {allowed}; only files inside it are read or run"
    raise OutsideProject(message)


class NotAFile(ValueError):
    """A path named where a file belongs that is no regular file, or larger than such a file can be."""


def read_bytes(path: Path, limit: int) -> bytes:
    """`path`'s bytes when it is a regular file (links followed) of at most `limit` bytes; else
    NotAFile (its message says which), OSError when it is absent or unreadable. A named pipe, or a
    link to a device, named where a file belongs would never be opened, or read forever."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a named pipe opens at once
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotAFile("not a regular file")
        content = file.read(limit + 1)
    if len(content) > limit:
        raise NotAFile(f"larger than {limit} bytes")
    return content


def inside_project(path: Path, what: str, start: Path | None = None) -> Path:
    """`path` resolved when it lies in the project at `start` (default: the working directory), or
    in the project this package was installed from (its code is what runs); else OutsideProject."""
    here = root(start)
    if Path(path).resolve().is_relative_to(here):
        return Path(path).resolve()  # the usual case: no need to read every installed package's metadata
    installed = installed_project()
    if installed is not None and Path(path).resolve().is_relative_to(installed):
        return Path(path).resolve()
    return inside(path, here, what, "the project")
