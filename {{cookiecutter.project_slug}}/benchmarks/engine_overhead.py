"""Wall time of the experiment on the default in-process engine, against the same runs made
directly with Prompt Flow's PFClient. Prints both and their ratio (target: <= 0.3).

Each measurement runs in a fresh process. Imports happen before the clock starts, so PFClient's
~2 s import is not counted against it; the evaluator's own imports are counted for both.

    python benchmarks/engine_overhead.py --lines 20 --repeat 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def shrink(experiment_file: Path, lines: int, workdir: Path) -> Path:
    """A copy of the experiment whose datasets hold their first `lines` lines; flows stay in place."""
    spec = yaml.safe_load(experiment_file.read_text(encoding="utf-8"))
    for dataset in spec["datasets"]:
        rows = (experiment_file.parent / dataset["path"]).read_text(encoding="utf-8").splitlines()[:lines]
        target = workdir / f"{dataset['name']}.jsonl"
        target.write_text("\n".join(rows) + "\n", encoding="utf-8")
        dataset["path"] = str(target)
    for item in [*spec["flows"], *spec.get("evaluators", [])]:
        item["path"] = str((experiment_file.parent / item["path"]).resolve())
    copy = workdir / "experiment.yaml"
    copy.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return copy


def measure_inprocess(experiment_file: Path) -> float:
    from {{ cookiecutter.package_name }}.engines import get_engine
    from {{ cookiecutter.package_name }}.experiment import load
    from {{ cookiecutter.package_name }}.runner import run_experiment

    experiment = load(experiment_file)
    start = time.perf_counter()
    engine = get_engine("inprocess", experiment_file.parent)
    root, concurrency = experiment_file.parent, experiment.concurrency
    run_experiment(experiment, root, engine, "inprocess", concurrency, lambda *_: lambda: None)
    return time.perf_counter() - start


def measure_pfclient(experiment_file: Path) -> float:
    from {{ cookiecutter.package_name }}.engines.promptflow import isolate
    from {{ cookiecutter.package_name }}.experiment import load, plan

    isolate(experiment_file.parent / ".promptflow")
    from promptflow.client import PFClient

    experiment = load(experiment_file)
    runs, evaluations = plan(experiment)
    client = PFClient()
    start = time.perf_counter()
    base = {}
    for planned in runs:
        base[planned.flow.name, planned.dataset.name] = client.run(
            flow=str(planned.flow.path),
            data=str(planned.dataset.path),
            column_mapping=planned.flow.column_mapping,
        )
    for planned in evaluations:
        client.run(
            flow=str(planned.evaluator.path),
            data=str(planned.base.dataset.path),
            run=base[planned.base.flow.name, planned.base.dataset.name],
            column_mapping=planned.evaluator.column_mapping,
        )
    return time.perf_counter() - start


MEASURES = {"inprocess": measure_inprocess, "pfclient": measure_pfclient}


def in_fresh_process(engine: str, experiment_file: Path) -> float:
    command = [sys.executable, __file__, "--measure", engine, "--experiment", str(experiment_file)]
    environment = {**os.environ, "LLM_PROVIDER": "offline"}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiment", type=Path, default=ROOT / "experiment.yaml")
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps({"seconds": MEASURES[args.measure](args.experiment)}))
        return
    with tempfile.TemporaryDirectory(dir=Path.home()) as workdir:
        experiment_file = shrink(args.experiment, args.lines, Path(workdir))
        timings = {
            engine: statistics.median(in_fresh_process(engine, experiment_file) for _ in range(args.repeat))
            for engine in MEASURES
        }
    ratio = timings["inprocess"] / timings["pfclient"]
    print(f"experiment: {args.experiment.name}, {args.lines} lines per dataset, median of {args.repeat}")
    print(f"in-process engine (default): {timings['inprocess']:.2f} s")
    print(f"PFClient directly:           {timings['pfclient']:.2f} s")
    print(f"ratio in-process / PFClient: {ratio:.3f} (target <= 0.3)")


if __name__ == "__main__":
    main()
