"""docs/benchmarks.png: planning throughput, cost of a send and the planner's memory against audience size."""

from __future__ import annotations

from pathlib import Path

from bench.planning import LABELS

DEFAULT_CHART = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.png"
MILLION = 1_000_000


def write(results: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(
        int(results[f"plan_{label}_recipients"])
        for label in LABELS.values()
        if f"plan_{label}_recipients" in results
    )
    labels = [LABELS[size] for size in sizes]
    per_message = results["infra_usd_per_million"] / MILLION
    rate = [results[f"plan_{label}_recipients_per_second"] for label in labels]
    cost = [
        size * per_message + results[f"plan_{label}_usd"] for size, label in zip(sizes, labels, strict=True)
    ]
    memory = [results[f"plan_{label}_peak_rss_growth_mb"] for label in labels]
    largest = sizes[-1]
    scaled = largest < MILLION  # the million, scaled linearly from the largest size measured

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.5))
    left.plot(sizes, rate, "o-", label="planning (recipients/s)")
    left.axhline(
        results["pipeline_messages_per_second"],
        color="tab:green",
        linestyle="--",
        label=f"whole pipeline, {results['pipeline_messages']:,.0f} messages (messages/s)",
    )
    left.axhline(
        results["bare_sends_per_second"],
        color="tab:gray",
        linestyle=":",
        label="bare SES/SNS sends on moto (/s)",
    )
    left.set(xscale="log", xlabel="audience size", ylabel="per second", title="Throughput on moto")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)

    middle.plot(sizes, cost, "o-", label="measured")
    if scaled:
        million_cost = MILLION * per_message + results["plan_usd_per_million"]
        middle.plot([largest, MILLION], [cost[-1], million_cost], "o--", mfc="white", label="1M, scaled")
    middle.set(
        xscale="log",
        yscale="log",
        xlabel="audience size",
        ylabel="USD (infrastructure, us-east-1 list prices)",
        title=f"Cost of a send: ${results['infra_usd_per_million']:.2f} per million messages",
    )
    middle.legend(fontsize=8)

    right.plot(sizes, memory, "o-", label="measured")
    if scaled:
        right.plot(
            [largest, MILLION],
            [memory[-1], results["plan_peak_rss_mb_per_million"]],
            "o--",
            mfc="white",
            label="1M, scaled linearly (upper bound)",
        )
    right.axhline(150, color="tab:red", linestyle=":", label="target per million")
    right.set(
        xscale="log", xlabel="audience size", ylabel="MB", title="Planner's peak RSS growth", ylim=(0, 200)
    )
    right.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
