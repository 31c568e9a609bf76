"""Engine benchmarks: the default in-process engine against Prompt Flow's PFClient on the same runs.

    # every dataset of experiment.yaml x 20 lines, every evaluator
    python -m aiops_platform.benchmarks.engines overhead --lines 20
    # every dataset x 200 lines, every evaluator
    python -m aiops_platform.benchmarks.engines overhead --lines 200
    python -m aiops_platform.benchmarks.engines throughput --latency-ms 200 --concurrency 16 --lines 200
    # in-process, tracing on against off
    python -m aiops_platform.benchmarks.engines tracing --lines 200
    python -m aiops_platform.benchmarks.engines tracing --lines 100 --latency-ms 200 --concurrency 16

`overhead` prints wall times and their ratio (target <= 0.3). `throughput` runs the flow alone
against the offline model with a simulated latency and prints lines/s against the ideal
concurrency / latency (target >= 85%). Both engines run the same plan through the same runner;
the Prompt Flow engine is PFClient.run plus reading each run's details and metrics back, which
any caller of PFClient needs. Each measurement runs in a fresh process; imports happen before
the clock starts, so PFClient's own ~2 s import is not counted against it. Datasets are cycled
to the requested length (ids stay unique); only the first variant of each flow runs. `tracing`
prints the in-process engine's wall time with the local trace store on and off, and their ratio."""

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

from aiops_platform.jsonl import read_jsonl, write_jsonl
from aiops_platform.paths import EXPERIMENT, root

ROOT = root()  # run it from a project folder: the working directory's project


def prepare(experiment_file: Path, lines: int, workdir: Path, evaluate: bool) -> Path:
    """A copy of the experiment with datasets cycled to `lines` lines and absolute paths."""
    spec = yaml.safe_load(experiment_file.read_text(encoding="utf-8"))
    for dataset in spec["datasets"]:
        rows = read_jsonl(experiment_file.parent / dataset["path"])
        cycled = [{**rows[i % len(rows)], "id": f"{dataset['name']}-{i:05d}"} for i in range(lines)]
        target = workdir / f"{dataset['name']}.jsonl"
        write_jsonl(target, cycled)
        dataset["path"] = str(target)
    for flow in spec["flows"]:
        flow["variants"] = flow.get("variants", [{"name": "default"}])[:1]
    spec["evaluators"] = spec.get("evaluators", []) if evaluate else []
    spec.pop("gate", None)  # timing only: no verdict needed
    for item in [*spec["flows"], *spec["evaluators"]]:
        item["path"] = str((experiment_file.parent / item["path"]).resolve())
    copy = workdir / "experiment.yaml"
    copy.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return copy


def dataset_count(experiment_file: Path) -> int:
    """How many datasets a run covers: `prepare` cycles every one of them to the requested lines."""
    return len(yaml.safe_load(experiment_file.read_text(encoding="utf-8"))["datasets"])


def measure(engine_name: str, experiment_file: Path, concurrency: int | None) -> float:
    """Wall time of the whole plan on one engine, from engine start-up to the last metric."""
    from aiops_platform.engines import get_engine
    from aiops_platform.experiment import load
    from aiops_platform.runner import run_experiment

    experiment = load(experiment_file)
    root, workers = experiment_file.parent, concurrency or experiment.concurrency
    if engine_name == "promptflow":
        from aiops_platform import promptflow_adapter

        promptflow_adapter.preload(promptflow_adapter.home(root))  # its ~2 s import stays outside the clock
    start = time.perf_counter()
    engine = get_engine(engine_name, root)
    run_experiment(experiment, root, engine, engine_name, workers, lambda *_: lambda: None)
    return time.perf_counter() - start


ENGINES = ("inprocess", "promptflow")


def in_fresh_process(
    engine: str, experiment_file: Path, concurrency: int | None, latency_ms: int, tracing: bool = True
) -> float:
    command = [sys.executable, __file__, "measure", engine, str(experiment_file)]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    environment = {
        **os.environ,
        "LLM_PROVIDER": "offline",
        "OFFLINE_MODEL_LATENCY_MS": str(latency_ms),
        "AIOPS_TRACING": str(tracing).lower(),
        "AIOPS_TRACE_DIR": str(experiment_file.parent / "traces"),
    }
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"{engine} measurement failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def timings(args: argparse.Namespace, evaluate: bool, latency_ms: int) -> dict[str, float]:
    from aiops_platform import promptflow_adapter

    if not promptflow_adapter.available():
        hint = promptflow_adapter.INSTALL_HINT
        raise SystemExit(f"The ratios are against Prompt Flow, which is not installed: {hint}")
    with tempfile.TemporaryDirectory(dir=Path.home()) as workdir:
        experiment_file = prepare(args.experiment, args.lines, Path(workdir), evaluate)
        measured: dict[str, list[float]] = {engine: [] for engine in ENGINES}
        for _ in range(args.repeat):
            for engine in ENGINES:
                seconds = in_fresh_process(engine, experiment_file, args.concurrency, latency_ms)
                measured[engine].append(seconds)
        return {engine: statistics.median(values) for engine, values in measured.items()}


def tracing_cost(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=Path.home()) as workdir:
        experiment_file = prepare(args.experiment, args.lines, Path(workdir), evaluate=True)
        measured: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeat):
            for tracing in (False, True):
                measured[tracing].append(
                    in_fresh_process("inprocess", experiment_file, args.concurrency, args.latency_ms, tracing)
                )
        spans = sum(1 for file in (Path(workdir) / "traces").glob("*.jsonl") for _ in file.open())
    on, off = statistics.median(measured[True]), statistics.median(measured[False])
    datasets = dataset_count(args.experiment)
    print(
        f"in-process engine, {datasets} datasets x {args.lines} lines, every evaluator, "
        f"{args.latency_ms} ms per model call, median of {args.repeat}"
    )
    print(f"tracing off: {off:.2f} s")
    print(f"tracing on:  {on:.2f} s ({spans // args.repeat} spans written per run)")
    print(f"ratio on / off: {on / off:.3f}")


def overhead(args: argparse.Namespace) -> None:
    seconds = timings(args, evaluate=True, latency_ms=0)
    evaluators = len(yaml.safe_load(args.experiment.read_text(encoding="utf-8")).get("evaluators", []))
    datasets = dataset_count(args.experiment)
    print(f"{datasets} datasets x {args.lines} lines, {evaluators} evaluators, median of {args.repeat}")
    print(f"in-process engine (default): {seconds['inprocess']:.2f} s")
    print(f"Prompt Flow (PFClient.run):  {seconds['promptflow']:.2f} s")
    print(f"ratio in-process / PFClient: {seconds['inprocess'] / seconds['promptflow']:.3f} (target <= 0.3)")


def throughput(args: argparse.Namespace) -> None:
    seconds = timings(args, evaluate=False, latency_ms=args.latency_ms)
    lines = dataset_count(args.experiment) * args.lines
    ideal = args.concurrency * 1000 / args.latency_ms
    print(f"flow only, {lines} lines, {args.latency_ms} ms per model call, concurrency {args.concurrency}")
    print(f"ideal: {ideal:.1f} lines/s")
    for engine, label in (("inprocess", "in-process engine"), ("promptflow", "PFClient (PF_WORKER_COUNT)")):
        rate = lines / seconds[engine]
        print(f"{label + ':':28} {rate:6.1f} lines/s = {100 * rate / ideal:.0f}% of ideal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("overhead", "throughput", "tracing"):
        command = commands.add_parser(name)
        command.add_argument("--experiment", type=Path, default=ROOT / EXPERIMENT)
        command.add_argument("--lines", type=int, default=20)
        command.add_argument("--repeat", type=int, default=1)
        command.add_argument("--concurrency", type=int, default=16 if name == "throughput" else None)
        command.add_argument("--latency-ms", type=int, default=0 if name == "tracing" else 200)
    one_engine = commands.add_parser("measure")
    one_engine.add_argument("engine", choices=ENGINES)
    one_engine.add_argument("experiment", type=Path)
    one_engine.add_argument("--concurrency", type=int)
    args = parser.parse_args()
    if args.command == "measure":
        print(json.dumps({"seconds": measure(args.engine, args.experiment, args.concurrency)}))
    else:
        {"overhead": overhead, "throughput": throughput, "tracing": tracing_cost}[args.command](args)


if __name__ == "__main__":
    main()
