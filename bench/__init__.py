"""Herald's benchmarks: `make bench` (`python -m bench`) runs them, prints a table, writes bench/results.json.

Adding one: a module here with `run(smoke: bool) -> dict[str, float]` (numbers only, keys unique
across benchmarks, `smoke=True` a run of a few seconds that `make test` uses so it cannot rot)
and, optionally, `TARGETS = {key: (">=" | "<=", value)}`; then one line in BENCHMARKS below.
A long set-up that times nothing goes in the module's `prepare(smoke: bool)`, started in the
background (bench/background.py) when UNTIMED_FIRST starts; the timed runs wait for it.
"""

# Left out of a full `make bench` (their own target), but smoke-run with the others.
SEPARATE = {"bench.audience_import": "make bench-import (a million-row CSV import, about 16 minutes)"}

# Its first part (the metered send) counts requests and times nothing; the later benchmarks'
# `prepare()` runs alongside it, and it settles them (bench/background.py) before its timed run.
UNTIMED_FIRST = "bench.sending"

BENCHMARKS = [
    "bench.audience_import",
    "bench.render_throughput",
    "bench.cold_start",
    "bench.sending",
    "bench.planning",
]
