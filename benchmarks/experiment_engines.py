"""Offline experiment wall time: default in-process engine against the same runs made directly
with PFClient, as a ratio (target <= 0.3).

Generates a default project into build/bench, installs it (`make install`), and runs the
project's own `benchmarks/engine_overhead.py`, which does the measuring.

    python benchmarks/experiment_engines.py --lines 20 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
BENCH_DIR = TEMPLATE / "build" / "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", default="20")
    parser.add_argument("--repeat", default="3")
    args = parser.parse_args()
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(BENCH_DIR), default_config=True))
    subprocess.run(["make", "-C", str(project), "install"], check=True)
    benchmark = [str(project / ".venv/bin/python"), str(project / "benchmarks/engine_overhead.py")]
    subprocess.run([*benchmark, "--lines", args.lines, "--repeat", args.repeat], check=True)


if __name__ == "__main__":
    main()
