"""Training and evaluation sets: MELT CSV rows × cached features, restricted per evaluation target.

As in the paper, a model evaluated on corpus C is trained only on the classes C has (its head matches
them), and only on utterances that have a valid label in both MELT (`llm_label`) and MELD (`Emotion`),
so both label sets train on the same utterances. Every row left out is returned with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from melt.data.corpora import corpus_classes
from melt.data.labels import EMOTIONS, normalize_emotion
from melt.ser.features import melt_item_id

IN_DOMAIN = "test"  # the MELT test split, evaluated with the label set the model was trained on


def target_classes(eval_corpora) -> dict[str, tuple[str, ...]]:
    """Evaluation target → the classes its head predicts (the in-domain test split has all seven)."""
    return {IN_DOMAIN: EMOTIONS, **{name: corpus_classes(name) for name in eval_corpora}}


def plan_heads(targets: dict[str, tuple[str, ...]]) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """One head per distinct class set, named after the first target needing it: (heads, target → head)."""
    heads: dict[str, tuple[str, ...]] = {}
    by_classes: dict[tuple[str, ...], str] = {}
    target_head = {}
    for target, classes in targets.items():
        if classes not in by_classes:
            by_classes[classes] = target
            heads[target] = classes
        target_head[target] = by_classes[classes]
    return heads, target_head


def read_melt_split(melt_dir: str | Path, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows with both labels valid, excluded rows with reason) of data/melt/<split>.csv."""
    path = Path(melt_dir) / f"{split}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run the derive stage first)")
    df = pd.read_csv(path)
    missing = [c for c in ("split", "dialogue_id", "utterance_id", "Emotion", "llm_label") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    df["melt"] = df["llm_label"].map(normalize_emotion)
    df["meld"] = df["Emotion"].map(normalize_emotion)
    df["item_id"] = [melt_item_id(d, u) for d, u in zip(df["dialogue_id"], df["utterance_id"])]
    df["row"] = np.arange(len(df)) + 2  # 1-based CSV line (header = 1)
    bad = df["melt"].isna() | df["meld"].isna()
    excluded = df[bad].assign(reason=[
        f"{path}: row {r}: label not one of the seven (llm_label={m!r}, Emotion={e!r})"
        for r, m, e in zip(df.loc[bad, "row"], df.loc[bad, "llm_label"], df.loc[bad, "Emotion"])])
    return df[~bad].reset_index(drop=True), excluded[["split", "dialogue_id", "utterance_id", "reason"]]


def attach_vectors(rows: pd.DataFrame, index: pd.DataFrame, set_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join rows to the feature index of `set_name` by item_id; rows without usable features are excluded."""
    sub = index[index["set"] == set_name][["item_id", "vectors", "status", "reason"]].rename(
        columns={"reason": "feature_reason"})
    merged = rows.merge(sub, on="item_id", how="left")
    bad = merged["status"].ne("ok")
    reasons = [f"no features: {r}" if isinstance(r, str) else "no features: not in the feature index"
               for r in merged.loc[bad, "feature_reason"]]
    excluded = merged[bad].assign(reason=reasons)[["split", "dialogue_id", "utterance_id", "reason"]]
    return merged[~bad].reset_index(drop=True), excluded


def restrict(rows: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Rows for a head over `classes`: both the MELT and the MELD label are among them, so the models trained
    on either label set see the same utterances (only their labels differ)."""
    return rows[rows["melt"].isin(classes) & rows["meld"].isin(classes)].reset_index(drop=True)


@dataclass(frozen=True)
class Arrays:
    x: np.ndarray        # (N, crops, layers, dim) float32, crops padded by repetition
    n_crops: np.ndarray  # (N,) real crops per row
    y: np.ndarray        # (N,) class indices


def load_arrays(features_dir: str | Path, vectors: list[str], labels: list[str], classes: tuple[str, ...]) -> Arrays:
    loaded = [np.load(Path(features_dir) / v) for v in vectors]
    if not loaded:
        raise ValueError("no rows to load")
    k = max(a.shape[0] for a in loaded)
    x = np.stack([np.concatenate([a] * (-(-k // a.shape[0])))[:k] for a in loaded]).astype(np.float32)
    index = {c: i for i, c in enumerate(classes)}
    return Arrays(x, np.array([a.shape[0] for a in loaded]), np.array([index[label] for label in labels]))
