"""What the template's real hooks cost, as ratios against a bake with `--accept-hooks no`.

Each row bakes the template with default answers through cookiecutter's API into a fresh folder;
the hooks run exactly as on a user's machine:
- `register_on_generate=none`: validation, git init and first commit;
- `local`, warm package cache: also the project's .venv (uv) and its own `register`;
- `local`, cold package cache: the same with an empty uv cache (every wheel downloaded).

    python benchmarks/bake_hooks.py --repeat 5 --cold 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


def bake_seconds(accept_hooks: bool, registration: str = "none", cold_cache: bool = False) -> float:
    with tempfile.TemporaryDirectory() as output, tempfile.TemporaryDirectory() as cache:
        environment = {"UV_CACHE_DIR": cache} if cold_cache else {}
        previous = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            with redirect_stdout(StringIO()):
                start = time.perf_counter()
                project = cookiecutter(
                    str(TEMPLATE),
                    no_input=True,
                    output_dir=output,
                    accept_hooks=accept_hooks,
                    default_config=True,
                    extra_context={"register_on_generate": registration},
                )
                seconds = time.perf_counter() - start
        finally:
            for name, value in previous.items():
                os.environ.pop(name) if value is None else os.environ.update({name: value})
        if registration == "local":  # the figure counts only if the hook really registered
            index = Path(project) / ".aiops/registry/index.json"
            assert index.is_file(), "the hook did not register: see its output"
            subprocess.run(["git", "-C", project, "log", "-1"], check=True, capture_output=True)
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold", type=int, default=1, help="cold-cache bakes (each downloads ~320 MB)")
    args = parser.parse_args()
    bake_seconds(accept_hooks=True)  # warm the file cache and Jinja imports once
    baseline = statistics.median(bake_seconds(False) for _ in range(args.repeat))
    rows = {
        "hooks, register none": [bake_seconds(True) for _ in range(args.repeat)],
        "hooks, register local, warm cache": [bake_seconds(True, "local") for _ in range(args.repeat)],
        "hooks, register local, cold cache": [bake_seconds(True, "local", True) for _ in range(args.cold)],
    }
    print(f"{'bake without hooks (baseline)':36} {baseline:8.2f} s")
    for label, samples in rows.items():
        if samples:
            median = statistics.median(samples)
            print(f"{label:36} {median:8.2f} s   ratio {median / baseline:7.1f}  (median of {len(samples)})")


if __name__ == "__main__":
    main()
