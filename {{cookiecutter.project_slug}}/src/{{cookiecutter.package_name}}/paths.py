"""The one place that knows where the project is and how it is laid out.

The project root is the nearest folder, at or above the working directory (or a given start), that
holds `experiment.yaml`; without one, the start itself. So a command run from `flows/qa/`, Prompt
Flow's workers and the server all find the same `.aiops/` and `.env`. Everything else is a fixed
place under the root, named here once: CLI defaults use these relative names, state lives under
`root()`.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = "experiment.yaml"  # the file that makes a folder the project root

# The project's own files and folders, relative to the root.
EXPERIMENT = Path(MARKER)
ENV_FILE = Path(".env")
DATA = Path("data")
DOCS = DATA / "docs"  # the documents a rag flow retrieves from
CONNECTIONS = Path("connections")
FLOWS = Path("flows")
FLOW = FLOWS / {{ cookiecutter.flow_kind | jsonify }}
JUDGES_FLOW = FLOWS / "eval_judges"
MONITORING = Path("monitoring")
MONITORING_CONFIG = MONITORING / "config.yaml"
ALERT_PARAMETERS = MONITORING / "alerts.parameters.json"
DEPLOYMENT = Path("deployment")
SAMPLE_REQUEST = DEPLOYMENT / "sample_request.json"
AML_SPECS = DEPLOYMENT / "aml"
RESULTS = Path("results")
ONLINE_SCORES = RESULTS / "online" / "scores.json"
AZUREML_SPECS = Path("azureml")

# Local state: git-ignored, rebuilt by the commands that own it.
STATE = Path(".aiops")
REGISTRY = STATE / "registry"  # local data-asset registry (registry.py)
TRACES = STATE / "traces"  # span store (tracing.py, monitor.py)
INDEX = STATE / "index"  # retrieval indexes (rag)
PROMPTFLOW_HOME = Path(".promptflow")  # Prompt Flow's home: runs and connections

TRACE_DIR_VARIABLE = "AIOPS_TRACE_DIR"  # where spans go, absolute; inherited by worker processes


def root(start: Path | None = None) -> Path:
    """The project root for `start` (default: the working directory), absolute."""
    here = (start or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if (folder / MARKER).is_file()), here)


def trace_dir() -> Path:
    """AIOPS_TRACE_DIR when set (the CLI sets it absolute for Prompt Flow's workers), else the store."""
    return Path(os.environ.get(TRACE_DIR_VARIABLE) or root() / TRACES)
