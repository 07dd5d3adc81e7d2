"""Measured pitch and loudness → low / mid / high by percentile rank (paper: bottom 30 / middle 40 / top 30 %)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from melt.data.egemaps import LOUDNESS_FEATURE, PITCH_FEATURE

FEATURES = {"pitch": PITCH_FEATURE, "loudness": LOUDNESS_FEATURE}


def bin_levels(values: pd.Series, low_quantile: float, high_quantile: float) -> pd.Series:
    """Percentile rank ≤ low_quantile → low, > high_quantile → high, else mid; NaN stays NaN.

    Ranks (not value thresholds) keep the 30/40/30 split exact up to ties, which share a rank.
    """
    pct = values.rank(pct=True, method="average")
    out = pd.Series(np.where(pct <= low_quantile, "low", np.where(pct > high_quantile, "high", "mid")),
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
