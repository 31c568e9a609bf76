"""What a generated project holds and costs after the platform moved into its library (issue 25),
against the last template commit before the split (BASELINE).

    python benchmarks/platform_split.py            # Python lines per project, both use cases
    python benchmarks/platform_split.py --test     # also install both and time their `make test`

Bakes the default project and the CMC rag preset from this checkout and from BASELINE (git archive
into build/bench-split), counts the lines of Python in `src/`, `tests/`, `flows/`, `evaluators/` and
`benchmarks/`, and prints each figure with its ratio to the baseline's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
BASELINE = "230b31a"  # main before the split: the platform copied into every project
WORK = TEMPLATE / "build" / "bench-split"
FOLDERS = ("src", "tests", "flows", "evaluators", "benchmarks")


def preset(name: str) -> dict:
    text = (TEMPLATE / "usecases" / f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["default_context"]


USE_CASES = {"default (qa)": {}, "CMC rag": preset("cmc") | {"flow_kind": "rag"}}


def baseline_template() -> Path:
    folder = WORK / "baseline-template"
    folder.mkdir(parents=True)
    command = ["git", "-C", str(TEMPLATE), "archive", BASELINE]
    archive = subprocess.run(command, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def bake(template: Path, where: str, answers: dict) -> Path:
    context = {**answers, "register_on_generate": "none"}
    output = WORK / where
    return Path(cookiecutter(str(template), no_input=True, output_dir=str(output), extra_context=context))


def python_lines(project: Path) -> int:
    files = [path for folder in FOLDERS for path in (project / folder).rglob("*.py")]
    return sum(len(path.read_text(encoding="utf-8").splitlines()) for path in files)


def make_test_seconds(project: Path, repeat: int) -> float:
    """Median wall time of the project's own `make test`, after one `make install`."""
    env = {**os.environ, "AIOPS_PLATFORM": str(TEMPLATE / "library")}
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["make", "-C", str(project), "install"], env=env, check=True, capture_output=True)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(["make", "-C", str(project), "test"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="store_true", help="install both and time `make test`")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    old_template = baseline_template()
    for label, answers in USE_CASES.items():
        slug = label.split()[0].lower()
        now, before = bake(TEMPLATE, f"now-{slug}", answers), bake(old_template, f"baseline-{slug}", answers)
        lines_now, lines_before = python_lines(now), python_lines(before)
        ratio = lines_now / lines_before
        print(f"{label}: Python lines {lines_now} (baseline {lines_before}): ratio {ratio:.3f}")
        if args.test:
            seconds_now = make_test_seconds(now, args.repeat)
            seconds_before = make_test_seconds(before, 1)
            ratio = seconds_now / seconds_before
            print(
                f"{label}: make test {seconds_now:.1f} s (baseline {seconds_before:.1f} s): ratio {ratio:.3f}"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
