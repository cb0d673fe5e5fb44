"""Run the benchmark suites and write their figures as JSON (``python -m bench --output FILE``).

``--markdown FILE`` also writes the figures as a Markdown table with the machine they ran on and
the command, the form docs/performance.md quotes. ``--smoke`` runs every suite at tiny sizes
(bench/sizes.py) to show that each still runs: its figures mean nothing as measurements, and
each of them carries ``"smoke": true``.
"""

import argparse
import importlib
import json
import os
import shlex
import sys
from pathlib import Path

from bench import Result
from bench.machine import describe_machine
from bench.sizes import SMOKE_ENV, is_smoke

# Every suite module under bench/; each later issue adds its own.
SUITES = (
    "bench.foundation",
    "bench.simulators",
    "bench.drivers",
    "bench.service",
    "bench.tick",
    "bench.ingest",
    "bench.refill_visit",
    "bench.api",
    "bench.load",
    "bench.link",
    "bench.audit",
    "bench.clinic",  # the clinic-year: by far the longest (see docs/performance.md); --only to skip it
)


SMOKE_BANNER = "SMOKE RUN: every suite at tiny sizes; these figures mean nothing as measurements"


def _figure(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _markdown(results: list[Result], machine: dict[str, str], command: str) -> str:
    lines = [
        *([f"**{SMOKE_BANNER}.**", ""] if is_smoke() else []),
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()),
        "",
        "| figure | value | unit | better |",
        "|---|---:|---|---|",
    ]
    for result in results:
        better = "higher" if result.higher_is_better else "lower"
        lines.append(f"| `{result.name}` | {_figure(result.value)} | {result.unit} | {better} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, help="default bench/results.json (bench/results-smoke.json)")
    parser.add_argument("--markdown", type=Path, help="also write the figures as a Markdown table here")
    parser.add_argument("--only", action="append", help="run only suites whose name contains this")
    parser.add_argument("--smoke", action="store_true", help=f"tiny sizes, to check every suite runs ({SMOKE_ENV}=1)")
    args = parser.parse_args()
    if args.smoke:  # before any suite is imported: their sizes are module constants
        os.environ[SMOKE_ENV] = "1"
    smoke = is_smoke()
    output: Path = args.output or Path("bench/results-smoke.json" if smoke else "bench/results.json")
    machine = describe_machine()
    if smoke:
        print(SMOKE_BANNER)
    print("machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()))
    results: list[Result] = []
    figures: list[dict[str, object]] = []
    for name in SUITES:
        if args.only and not any(part in name for part in args.only):
            continue
        suite = importlib.import_module(name)
        for result in suite.run():
            print(f"{result.name:<48} {result.value:>14,.3f} {result.unit}", flush=True)
            results.append(result)
            figures.append({**result.as_json(), "suite": name, **({"smoke": True} if smoke else {})})
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {len(results)} figures to {output}" + (" (smoke run)" if smoke else ""))
    if args.markdown is not None:
        command = "python -m bench " + shlex.join(sys.argv[1:])
        args.markdown.write_text(_markdown(results, machine, command))
        print(f"wrote the table to {args.markdown}")


if __name__ == "__main__":
    main()
