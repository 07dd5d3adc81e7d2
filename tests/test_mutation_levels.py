"""melt.acoustics.levels on hand-worked values: the 30/40/30 split and its tie and cut rules, per-speaker z-scores
(a speaker with exactly two values gets ±1, spreads below 1 are still normalised, zero spread and a single value
give none), the cut points (`low_max` / `high_min`, None without a low or high bin) and the report's `cut_points`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from melt.acoustics.levels import FEATURES, bin_levels, speaker_zscores, thresholds
from melt.acoustics.validate import acoustic_levels
from melt.data.egemaps import LOUDNESS_FEATURE, PITCH_FEATURE

NAN = float("nan")


def levels(values, low=0.3, high=0.7) -> list:
    out = bin_levels(pd.Series(values, dtype="float64"), low, high)
    return [None if isinstance(v, float) and math.isnan(v) else v for v in out]


def test_ten_distinct_values_split_three_four_three():
    # rank r of 10 has percentile (r - 0.5) / 10: 0.05 … 0.95; < 0.3 low, > 0.7 high
    assert levels([7, 1, 10, 4, 2, 9, 3, 5, 8, 6]) == ["mid", "low", "high", "mid", "low", "high", "low", "mid",
                                                       "high", "mid"]


def test_exactly_at_a_cut_is_mid():
    # 4 values: percentiles 0.125, 0.375, 0.625, 0.875
    assert levels([1, 2, 3, 4], low=0.375, high=0.625) == ["low", "mid", "mid", "high"]
    assert levels([1, 2, 3, 4], low=0.376, high=0.624) == ["low", "low", "high", "high"]


def test_ties_nan_one_value_and_all_equal():
    # 5 + 5 tied values: ranks average 3 and 8 → percentiles 0.25 and 0.75: no middle
    assert levels([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]) == ["low"] * 5 + ["high"] * 5
    # NaN stays NaN and does not count: 3 measured values → percentiles 1/6, 1/2, 5/6
    assert levels([3, NAN, 1, 2]) == ["high", None, "low", "mid"]
    assert levels([5.0]) == ["mid"]
    assert levels([2, 2, 2]) == ["mid", "mid", "mid"]
    out = bin_levels(pd.Series([2.0, 1.0], index=[10, 20]), 0.3, 0.7)
    assert list(out.index) == [10, 20] and out.dtype == object


def zscores(values, speakers) -> list:
    out = speaker_zscores(pd.Series(values, dtype="float64"), pd.Series(speakers))
    assert out.dtype == "float64"
    return [None if math.isnan(v) else round(v, 12) for v in out]


def test_speaker_zscores_hand_worked():
    values = [1.0, 3.0, 10.0, 10.2, 10.4, 5.0, 5.0, 8.0, 2.0, NAN, 4.0, 7.0, NAN]
    speakers = ["a", "a", "b", "b", "b", "c", "c", "d", "e", "e", "e", "f", "f"]
    # a: exactly two values, mean 2, population sd 1 → ±1
    # b: mean 10.2, sd sqrt(0.08/3) ≈ 0.163 (< 1, still normalised) → ∓ 0.2 / sd
    # c: no spread → none; d: one value → none; e: NaN ignored → two values 2, 4 → ±1; f: one measured → none
    sd_b = math.sqrt(0.08 / 3)
    expected = [-1.0, 1.0, round(-0.2 / sd_b, 12), 0.0, round(0.2 / sd_b, 12), None, None, None, -1.0, None, 1.0,
                None, None]
    got = zscores(values, speakers)
    assert got[:2] == expected[:2] and got[5:] == expected[5:]
    assert np.allclose(got[2:5], expected[2:5], atol=1e-9)
    assert abs(got[2]) > 1.2   # 1.2247…: a spread below 1 is divided by, not left alone


def test_speaker_zscores_keep_the_index_and_speakers_apart():
    values = pd.Series([100.0, 300.0, 1.0, 3.0], index=[7, 3, 9, 1])
    out = speaker_zscores(values, pd.Series(["x", "x", "y", "y"], index=[7, 3, 9, 1]))
    assert out.to_dict() == {7: -1.0, 3: 1.0, 9: -1.0, 1: 1.0}


def test_thresholds_low_max_high_min_and_none():
    values = pd.Series([5.0, 1.0, 9.0, 3.0, 7.0, 8.0])
    lv = pd.Series(["mid", "low", "high", "low", "mid", "high"])
    assert thresholds(values, lv) == {"low_max": 3.0, "high_min": 8.0}
    assert thresholds(values, pd.Series(["mid"] * 6)) == {"low_max": None, "high_min": None}
    only_low = thresholds(pd.Series([2.0, 4.0]), pd.Series(["low", "mid"]))
    assert only_low == {"low_max": 2.0, "high_min": None} and type(only_low["low_max"]) is float


def test_acoustic_levels_cut_points_as_reported():
    n = 10
    rows = pd.DataFrame({"split": ["train"] * n, "dialogue_id": range(n), "utterance_id": [0] * n,
                         "speaker": ["a"] * n, "audio_status": ["measured"] * (n - 1) + ["no_audio"]})
    pitch = [110.0, 0.0, 150.0, 90.0, 200.0, 130.0, 170.0, 120.0, 160.0, NAN]   # 0 Hz: unvoiced
    loud = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, NAN]
    features = pd.DataFrame({PITCH_FEATURE: pitch, LOUDNESS_FEATURE: loud})
    assert FEATURES == {"pitch": PITCH_FEATURE, "loudness": LOUDNESS_FEATURE}
    out, cuts = acoustic_levels(rows, features, "none", 0.3, 0.7)
    # pitch: 8 voiced values 90 110 120 130 150 160 170 200 → percentiles (r-0.5)/8 = 0.0625, 0.1875, 0.3125, …
    #   low: 90, 110 (0.0625, 0.1875); high: 170, 200 (0.8125, 0.9375)
    # loudness: 9 values 0.1 … 0.9 → (r-0.5)/9: low 0.1 0.2 0.3 (< 0.3: 0.056 0.167 0.278); high 0.7 0.8 0.9
    assert cuts == {"pitch": {"low_max": 110.0, "high_min": 170.0}, "loudness": {"low_max": 0.3, "high_min": 0.7}}
    assert list(out["pitch_status"]) == ["measured", "unvoiced", *["measured"] * 7, "no_audio"]
