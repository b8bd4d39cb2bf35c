"""The fault-injection suite's smoke run (the full run is `make faults`)."""

from __future__ import annotations

import os

import pytest

from tests.faults.harness import Scenario, run

pytestmark = pytest.mark.slow

# A fixed seed keeps `make test` reproducible; HERALD_FAULT_SEED tries another.
SEED = int(os.environ.get("HERALD_FAULT_SEED", "20261126"))


def test_no_message_twice_none_lost_under_injected_faults():
    report = run(Scenario.smoke(SEED))
    print("\n" + report.render())
    assert report.messages >= 900
    assert report.ok, report.render()
