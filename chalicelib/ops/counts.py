"""Check a communication's counters against its message records, and repair them.

    python -m chalicelib.ops.counts COMM_ID            # compare; exit 1 when they differ
    python -m chalicelib.ops.counts COMM_ID --repair   # and overwrite the counters

The records are the truth: counters are rebuilt from them and the planned totals of each
audience chunk. Run it on a communication that is not sending right now (finished, settled,
or paused): a window being sent has records its counters only take at its commit.
``make counts COMM=…`` runs it against the local stack.
"""

from __future__ import annotations

import argparse
import sys

from chalicelib.domain.models import COUNT_FIELDS, Counts
from chalicelib.domain.reconciliation import check_counts
from chalicelib.wiring import services


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.ops.counts", description=__doc__.split("\n")[0]
    )
    parser.add_argument("comm_id")
    parser.add_argument("--repair", action="store_true", help="overwrite the counters with the tally")
    args = parser.parse_args(argv)
    svc = services()
    check = check_counts(svc.ledger, svc.message_store, args.comm_id, repair=args.repair)
    channels = sorted(set(check.stored) | set(check.from_records))
    print(f"{'channel':<8} {'counter':<16} {'stored':>8} {'records':>8}")
    for channel in channels:
        stored = check.stored.get(channel, Counts())
        tallied = check.from_records.get(channel, Counts())
        for name in COUNT_FIELDS:
            mark = "" if getattr(stored, name) == getattr(tallied, name) else "  <- differs"
            print(f"{channel!s:<8} {name:<16} {getattr(stored, name):>8} {getattr(tallied, name):>8}{mark}")
    if check.matches:
        print("counters match the records")
        return 0
    print("counters repaired from the records" if args.repair else "counters differ (use --repair)")
    return 0 if args.repair else 1


if __name__ == "__main__":
    sys.exit(main())
