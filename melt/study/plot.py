"""The preference bar chart as a PNG (paper Figure 3): share preferring the MELT label per MELD emotion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from melt.io import atomic_open


def preference_chart(table: pd.DataFrame, path: Path) -> None:
    """Bars with the 95 % cluster-bootstrap intervals for the emotions that have answers, a 50 % line;
    byte-identical for equal input (no date in the PNG metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = table[table["answers"] > 0]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    if len(shown):
        x = range(len(shown))
        share = shown["prefer_melt"].astype(float) * 100
        # No interval (fewer than 2 participants): no error bar rather than a made-up one.
        low = shown["ci_low"].astype(float).fillna(shown["prefer_melt"].astype(float)) * 100
        high = shown["ci_high"].astype(float).fillna(shown["prefer_melt"].astype(float)) * 100
        err = [share - low, high - share]
        ax.bar(x, share, yerr=err, capsize=4, color="#4c72b0")
        ax.set_xticks(list(x), [f"{e}\n(n={n})" for e, n in zip(shown["emotion"], shown["answers"])])
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no answers yet", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(50, color="#888", linestyle="--", linewidth=1)
    ax.set_ylim(0, 100)
    ax.set_ylabel("prefer MELT label (%)")
    ax.set_xlabel("MELD emotion")
    ax.set_title("Which label describes the clip best? (95 % participant-bootstrap intervals)")
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", metadata={"Software": None})
    plt.close(fig)
