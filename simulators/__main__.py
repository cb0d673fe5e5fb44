"""``python -m simulators scenario NAME|FILE``: run a scripted scenario and print what happened."""

import argparse
import sys

from simulators.scenario import SCENARIO_DIR, ScenarioError, load_scenario
from simulators.scenario_run import run_scenario


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    scenario = commands.add_parser("scenario", help="run a scenario (a file, or a name in simulators/scenarios/)")
    scenario.add_argument("name", nargs="?", help=f"one of: {', '.join(p.stem for p in SCENARIO_DIR.glob('*.json'))}")
    args = parser.parse_args()
    if args.name is None:
        print("\n".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))))
        return 0
    try:
        run = run_scenario(load_scenario(args.name))
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = run.scenario.start
    print(f"{run.scenario.name}: {run.scenario.description}")
    print(f"unit flow factor {run.unit_factor:.4f}")
    for at, what in run.events:
        print(f"  day {(at - start).total_seconds() / 86400:7.3f}  {what}")
    for refill in run.refills:
        day = (refill.at - start).total_seconds() / 86400
        print(
            f"  day {day:7.3f}  refill: syringe {refill.measured_residual_ml:.2f} mL "
            f"(true {refill.true_residual_ml:.3f} mL), reservoir now {refill.volume_after_ml:.2f} mL"
        )
    last = run.samples[-1]
    print(f"  end        reservoir {last.volume_ml:.3f} mL, delivered {last.delivered_ml:.3f} mL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
