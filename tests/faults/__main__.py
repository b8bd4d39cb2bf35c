"""``python -m tests.faults [--seed N] [--smoke] [--concurrency N]``: the fault-injection suite
(``make faults``)."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from tests.support import offline_aws_environment

offline_aws_environment()

from tests.faults.harness import Scenario, run, seed_from_time  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="replay a run (printed by every run)")
    parser.add_argument("--smoke", action="store_true", help="the small run that `make test` does")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="provider calls a send worker makes at once (1: a seed replays exactly)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    seed = seed_from_time() if args.seed is None else args.seed
    print(f"seed {seed}", flush=True)
    scenario = Scenario.smoke(seed) if args.smoke else Scenario.full(seed)
    scenario = replace(scenario, send_concurrency=args.concurrency)
    report = run(scenario)
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
