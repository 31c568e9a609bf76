"""Bake time with the template's hooks against `--accept-hooks no`, as a ratio.

Both bake the same template with default answers through cookiecutter's API; each figure is the
median of N bakes into fresh folders.

    python benchmarks/bake_hooks.py --repeat 15
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


def bake_seconds(accept_hooks: bool) -> float:
    with tempfile.TemporaryDirectory() as output, redirect_stdout(StringIO()):
        start = time.perf_counter()
        cookiecutter(
            str(TEMPLATE), no_input=True, output_dir=output, accept_hooks=accept_hooks, default_config=True
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    bake_seconds(accept_hooks=True)  # warm the file cache and Jinja imports once
    with_hooks = statistics.median(bake_seconds(True) for _ in range(args.repeat))
    without_hooks = statistics.median(bake_seconds(False) for _ in range(args.repeat))
    print(f"bake with hooks:     {with_hooks * 1000:.0f} ms (median of {args.repeat})")
    print(f"bake without hooks:  {without_hooks * 1000:.0f} ms (--accept-hooks no)")
    print(f"ratio hooks / none:  {with_hooks / without_hooks:.2f}")


if __name__ == "__main__":
    main()
