"""Measured levels vs the LLM's described levels, per split and characteristic (paper Table 4).

Every MELT row is accounted for on both sides: the description is mapped, unmappable or missing;
the audio is measured, absent (`no_audio`), failed (with openSMILE's reason), unvoiced (pitch: no
voiced frame) or without a speaker baseline (normalize: speaker). Only rows with both a measured
and a described level are scored.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from melt.acoustics.descriptions import CHARACTERISTICS, LEVELS, Rule, is_missing, map_description
from melt.acoustics.levels import FEATURES, bin_levels, speaker_zscores, thresholds
from melt.metrics import classification_metrics

KEY = ["split", "dialogue_id", "utterance_id"]
ACOUSTIC_STATUSES = ("measured", "no_audio", "audio_failed", "unvoiced", "no_speaker_baseline", "not_in_prepared")
DESCRIPTION_STATUSES = ("mapped", "unmappable", "missing_description")


def acoustic_levels(rows: pd.DataFrame, features: pd.DataFrame, normalize: str,
                    low_quantile: float, high_quantile: float) -> tuple[pd.DataFrame, dict]:
    """Per prepared row: value, status and level of each characteristic; the cut points.

    rows: prepared rows (KEY, speaker, audio_status: measured / no_audio / audio_failed);
    features: the same rows' eGeMAPS values (aligned index, NaN when not measured).
    Bins are cut over every measured row of the corpus (all splits): the acoustic scale depends
    on the audio only, not on which rows the LLM answered.
    """
    out = rows[KEY + ["speaker", "audio_status"]].copy()
    cuts = {}
    for name, column in FEATURES.items():
        value = features[column].astype("float64")
        status = out["audio_status"].copy()
        if name == "pitch":  # openSMILE reports mean F0 0 when it finds no voiced frame
            unvoiced = (status == "measured") & (value <= 0)
            status[unvoiced] = "unvoiced"
            value = value.where(~unvoiced)
        if normalize == "speaker":
            value = speaker_zscores(value, out["speaker"])
            status[(status == "measured") & value.isna()] = "no_speaker_baseline"
        level = bin_levels(value, low_quantile, high_quantile)
        out[f"{name}_value"], out[f"{name}_status"], out[f"{name}_acoustic"] = value, status, level
        cuts[name] = thresholds(value, level)
    return out, cuts


def describe_levels(melt: pd.DataFrame, rules: dict[str, list[Rule]]) -> pd.DataFrame:
    """Per MELT row: each description, its mapped level, and why it could not be mapped."""
    out = melt[KEY].copy()
    for name in CHARACTERISTICS:
        texts = melt[name]
        cache = {}
        levels, statuses, reasons = [], [], []
        for text in texts:
            if is_missing(text):
                levels.append(None), statuses.append("missing_description"), reasons.append(None)
                continue
            text = str(text).strip()
            mapping = cache.get(text) or cache.setdefault(text, map_description(text, rules[name]))
            levels.append(mapping.level)
            statuses.append("mapped" if mapping.level else "unmappable")
            reasons.append(mapping.reason)
        out[f"{name}_description"] = [None if is_missing(t) else str(t).strip() for t in texts]
        out[f"{name}_described"] = levels
        out[f"{name}_description_status"] = statuses
        out[f"{name}_unmappable_reason"] = reasons
    return out


def join(described: pd.DataFrame, acoustic: pd.DataFrame) -> pd.DataFrame:
    """MELT rows (left) with their acoustic levels; a MELT row absent from the prepared rows is flagged."""
    merged = described.merge(acoustic, on=KEY, how="left", validate="one_to_one")
    for name in CHARACTERISTICS:
        merged[f"{name}_status"] = merged[f"{name}_status"].fillna("not_in_prepared")
    return merged


def scores(measured: pd.Series, described: pd.Series) -> dict:
    """UAR, ACC, macro F1 (melt.metrics) with the measured level as the reference: over the levels the
    measurement has, so a level only described counts as errors of the measured levels, not as a class."""
    if len(measured) == 0:
        return {"uar": None, "acc": None, "f1": None}
    return classification_metrics(list(measured), list(described))


def characteristic_metrics(table: pd.DataFrame, name: str) -> dict:
    compared = table[(table[f"{name}_status"] == "measured") & (table[f"{name}_description_status"] == "mapped")]
    metrics = {**scores(compared[f"{name}_acoustic"], compared[f"{name}_described"]),
               "rows": int(len(table)), "compared": int(len(compared))}
    for status in DESCRIPTION_STATUSES:
        metrics[status] = int((table[f"{name}_description_status"] == status).sum())
    for status in ACOUSTIC_STATUSES:
        metrics[status] = int((table[f"{name}_status"] == status).sum())
    metrics["described_levels"] = {lv: int((compared[f"{name}_described"] == lv).sum()) for lv in LEVELS}
    metrics["measured_levels"] = {lv: int((compared[f"{name}_acoustic"] == lv).sum()) for lv in LEVELS}
    return metrics


def unmappable_list(table: pd.DataFrame, name: str) -> list[dict]:
    """Every distinct unmappable description with its count and reason, most frequent first."""
    rows = table[table[f"{name}_description_status"] == "unmappable"]
    counts = Counter(zip(rows[f"{name}_description"], rows[f"{name}_unmappable_reason"]))
    return [{"description": d, "count": n, "reason": r}
            for (d, r), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))]


def summarize(table: pd.DataFrame, splits: list[str]) -> dict:
    per_split = {}
    for split in [*splits, "all"]:
        part = table if split == "all" else table[table["split"] == split]
        per_split[split] = {name: characteristic_metrics(part, name) for name in CHARACTERISTICS}
    return per_split
