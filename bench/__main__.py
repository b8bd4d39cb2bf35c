"""``python -m bench [--smoke] [--only NAME] [--output PATH]``: run benchmarks, print a table, write JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import BENCHMARKS, SEPARATE, UNTIMED_FIRST

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def _meets(value: float, target: tuple[str, float] | None) -> str:
    if target is None:
        return ""
    op, bound = target
    ok = value >= bound if op == ">=" else value <= bound
    return f"{op} {bound:g}  {'ok' if ok else 'MISSED'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny runs, to check the benchmarks still work")
    parser.add_argument("--only", action="append", help="run only these modules (e.g. render_throughput)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--chart", type=Path, help="where the chart goes (docs/benchmarks.png; with --smoke, beside --output)"
    )
    args = parser.parse_args(argv)

    selected = [
        name
        for name in BENCHMARKS
        if (not args.only or name.rsplit(".", 1)[-1] in args.only)
        and (args.only or args.smoke or name not in SEPARATE)
    ]
    for name in sorted(set(BENCHMARKS) - set(selected)):
        if name in SEPARATE and not args.only:
            print(f"skipping {name}: {SEPARATE[name]}", file=sys.stderr)
    results: dict[str, float] = {}
    rows: list[tuple[str, float, str]] = []
    run_started = time.perf_counter()
    for name in selected:
        module: Any = importlib.import_module(name)
        if name == UNTIMED_FIRST:
            # Its first part times nothing: the others' untimed set-up runs alongside it.
            for later in selected[selected.index(name) + 1 :]:
                prepare = getattr(importlib.import_module(later), "prepare", None)
                if prepare is not None:
                    prepare(smoke=args.smoke)
        print(f"running {name}{' (smoke)' if args.smoke else ''} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        measured: dict[str, float] = module.run(smoke=args.smoke)
        print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        targets: dict[str, tuple[str, float]] = getattr(module, "TARGETS", {})
        for key, value in measured.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"{name}: {key} is {value!r}, not a number")
            if key in results:
                raise ValueError(f"{name}: {key} is already reported by another benchmark")
            results[key] = value
            rows.append((key, value, _meets(value, targets.get(key))))
        # Kept as each benchmark ends: a later failure does not lose what was measured.
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")

    width = max((len(key) for key, _, _ in rows), default=10)
    print(f"{'metric':<{width}}  {'value':>14}  target")
    for key, value, target in rows:
        print(f"{key:<{width}}  {value:>14,.3f}  {target}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.output}")
    if not args.only:
        from bench import chart

        chart_path = args.chart or (args.output.with_suffix(".png") if args.smoke else chart.DEFAULT_CHART)
        chart.write(results, chart_path)
        print(f"wrote {chart_path}")
    print(f"the benchmarks took {time.perf_counter() - run_started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
