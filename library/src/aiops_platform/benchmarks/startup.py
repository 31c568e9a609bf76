"""Start-up benchmark: what the daily loop's commands cost before they do any work, against the
figures issue 26 measured before each command imported only what it uses (2 cores, a CMC rag project).

    python -m aiops_platform.benchmarks.startup             # median of 5 runs per command
    python -m aiops_platform.benchmarks.startup --repeat 9

Each command runs in a fresh process (this environment's `aiops`) in the project folder, with the
offline model, after one unmeasured run. `experiment, 1 line` is an experiment's fixed cost: every
flow variant and evaluator of experiment.yaml on one line of each dataset, results and spans written
to a temporary folder. Ratios are now / before (lower is better). Python
compiles every module it imports on each start when it may not cache bytecode
(PYTHONDONTWRITEBYTECODE set and nothing compiled at install): the first line of output says which.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from aiops_platform.paths import EXPERIMENT, root

ROOT = root()  # run it from a project folder: the working directory's project
OVERLAY = "bench-startup"  # experiment.<OVERLAY>.yaml: the one-line run, removed afterwards

# (label, seconds before issue 26 or None where it gave no figure, target seconds)
FIGURES = {
    "help": ("aiops --help", 1.8, 0.5),
    "data": ("aiops data validate", None, 1.0),
    "validate": ("aiops experiment validate", 6.8, 1.0),
    "one_line": ("experiment, 1 line", 7.0, 2.0),
}


def aiops() -> list[str]:
    """The `aiops` script installed next to this interpreter, as the Makefile runs it."""
    script = Path(sys.executable).with_name("aiops")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aiops_platform"]


def one_line_run(output: Path) -> list[str]:
    """`experiment run` of the whole plan on one line of each dataset, into `output`."""
    spec = yaml.safe_load((ROOT / EXPERIMENT).read_text(encoding="utf-8"))
    one_line = {"datasets": [{"name": dataset["name"], "limit": 1} for dataset in spec["datasets"]]}
    (ROOT / f"experiment.{OVERLAY}.yaml").write_text(yaml.safe_dump(one_line), encoding="utf-8")
    return ["experiment", "run", "--env", OVERLAY, "--output", str(output)]


def median_seconds(command: list[str], repeat: int, environment: dict[str, str]) -> float:
    times = []
    for run in range(repeat + 1):  # the first run is not counted: it may write bytecode
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command[1:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        if run:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Measured runs per command (median)")
    args = parser.parse_args()
    no_cache = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    print(
        f"median of {args.repeat} fresh processes per command; "
        + ("PYTHONDONTWRITEBYTECODE is set: modules not compiled at install are compiled on every start"
           if no_cache else "bytecode cached")
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        environment = {
            **os.environ,
            "LLM_PROVIDER": "offline",
            "AIOPS_TRACE_DIR": str(Path(scratch, "traces")),
        }
        commands = {
            "help": ["--help"],
            "data": ["data", "validate"],
            "validate": ["experiment", "validate"],
        }
        try:
            commands["one_line"] = one_line_run(Path(scratch, "results"))
            for key, arguments in commands.items():
                label, before, target = FIGURES[key]
                seconds = median_seconds(aiops() + arguments, args.repeat, environment)
                against = f" vs {before:.1f} s: {seconds / before:.2f}" if before else ""
                verdict = "met" if seconds <= target else "missed"
                print(f"{label + ':':27} {seconds:.2f} s{against} (target {target:.1f} s: {verdict})")
        finally:
            (ROOT / f"experiment.{OVERLAY}.yaml").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
