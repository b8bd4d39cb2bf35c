"""How the pipeline benchmark times a round: by the workers' clocks, not by when a poll noticed."""

from __future__ import annotations

from bench.pipeline import _finished


def test_a_round_ends_when_its_last_send_invocation_returns_not_when_the_driver_polled() -> None:
    round_ = {"started": 100.0, "completed": 160.4}  # the poll that saw COMPLETED
    stats = [
        {"invocations": [["plan_worker", 100.2, 1.5, 0.4], ["send_worker", 101.0, 4.0, 0.8]]},
        {"invocations": [["send_worker", 155.0, 4.75, 0.9], ["send_worker", 170.0, 4.0, 0.9]]},
        {"invocations": [["events_worker", 158.0, 3.0, 0.1]]},
    ]

    # 155.0 + 4.75: a send of the next round (started at 170) and an events batch are not this round's.
    assert _finished(round_, stats) == 159.75


def test_a_round_without_invocations_keeps_the_polled_end() -> None:
    assert _finished({"started": 1.0, "completed": 2.0}, [{"invocations": []}]) == 2.0
