"""Run the benchmark suites and write their figures as JSON (``python -m bench --output FILE``)."""

import argparse
import importlib
import json
from pathlib import Path

from bench import Result

# Every suite module under bench/; each later issue adds its own.
SUITES = ("bench.foundation", "bench.simulators", "bench.drivers", "bench.service", "bench.link", "bench.audit")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--only", action="append", help="run only suites whose name contains this")
    args = parser.parse_args()
    results: list[Result] = []
    for name in SUITES:
        if args.only and not any(part in name for part in args.only):
            continue
        suite = importlib.import_module(name)
        for result in suite.run():
            print(f"{result.name:<48} {result.value:>14,.1f} {result.unit}")
            results.append(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")
    print(f"wrote {len(results)} figures to {args.output}")


if __name__ == "__main__":
    main()
