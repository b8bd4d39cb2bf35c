"""Set-up that times nothing, run alongside other work that times nothing.

A moto server putting a million accounts in place takes most of a minute and needs a core of its
own; the metered send (bench/sending.py) counts requests and times nothing either, and leaves the
second core idle. `start()` runs such set-up on a thread of this process (it waits on another
process, so it takes little of this one); `settle()` waits for all of it and is called before
anything is timed; `take()` hands a benchmark what its set-up made.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-setup")
_jobs: dict[str, Future[Any]] = {}


def start(name: str, work: Callable[[], Any]) -> None:
    _jobs[name] = _pool.submit(work)


def settle() -> None:
    """Returns once every set-up started is done (whether it worked is for `take()` to say)."""
    wait(list(_jobs.values()))


def take(name: str) -> Any:
    """What the set-up `name` returned (its error raised), or None if it was not started."""
    job = _jobs.pop(name, None)
    return None if job is None else job.result()
