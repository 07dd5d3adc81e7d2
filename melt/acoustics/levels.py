"""Measured pitch and loudness → low / mid / high by percentile rank (paper: bottom 30 / middle 40 / top 30 %)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from melt.data.egemaps import LOUDNESS_FEATURE, PITCH_FEATURE

FEATURES = {"pitch": PITCH_FEATURE, "loudness": LOUDNESS_FEATURE}


def bin_levels(values: pd.Series, low_quantile: float, high_quantile: float) -> pd.Series:
    """low / mid / high by percentile rank (paper: bottom 30 % / middle 40 % / top 30 %); NaN stays NaN.

    Tie rule: equal values always get the same level, never split at a cut. A tie group takes the
    mid-point of the ranks it spans (rank `r` of `n` measured values has percentile `(r - 0.5) / n`,
    the centre of its 1/n slice); percentile < low_quantile → low, > high_quantile → high, else mid
    (exactly at a cut → mid). Without ties this is the exact split (10 values: 3 / 4 / 3) and it is
    symmetric (the lowest and the highest value are treated alike); all-equal values, or a single value,
    are mid; with only two distinct values there is no middle (5 + 5 tied values: low and high).
    """
    n = int(values.notna().sum())
    pct = (values.rank(method="average") - 0.5) / n
    out = pd.Series(np.where(pct < low_quantile, "low", np.where(pct > high_quantile, "high", "mid")),
                    index=values.index, dtype="object")
    return out.where(values.notna())


def speaker_zscores(values: pd.Series, speakers: pd.Series) -> pd.Series:
    """Per-speaker z-scores: the voice's own mean and spread, so a deep voice's high is still high.

    A speaker with fewer than two measured values, or no spread, has no z-score (NaN).
    """
    grouped = values.groupby(speakers)
    mean = grouped.transform("mean")
    std = grouped.transform(lambda v: v.std(ddof=0) if v.notna().sum() >= 2 else np.nan)
    return ((values - mean) / std.where(std > 0)).astype("float64")


def thresholds(values: pd.Series, levels: pd.Series) -> dict[str, float | None]:
    """The largest low value and the smallest high value: where the bins were cut."""
    lows, highs = values[levels == "low"], values[levels == "high"]
    return {"low_max": float(lows.max()) if len(lows) else None,
            "high_min": float(highs.min()) if len(highs) else None}
