"""Engine benchmarks of a generated project, against Prompt Flow's PFClient on the same runs.

Generates a default project into build/bench, installs it with this checkout's library, and runs
its `make bench` (the platform's `aiops_platform.benchmarks`, on the project): the runner-cost ratio
for every dataset of the experiment x 20 lines and x 200 lines with every evaluator, and throughput
against a model with 200 ms latency.

    python benchmarks/experiment_engines.py
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
BENCH_DIR = TEMPLATE / "build" / "bench"


def main() -> None:
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(BENCH_DIR), default_config=True))
    library = f"AIOPS_PLATFORM={TEMPLATE / 'library'}"  # this checkout's platform, not the project's pin
    subprocess.run(["make", "-C", str(project), "install", "bench", library], check=True)


if __name__ == "__main__":
    main()
