"""MELT CSVs → Hugging Face `datasets` splits with typed features (the 7 emotions as a ClassLabel)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from datasets import Audio, ClassLabel, Dataset, DatasetDict, Features, Value

from melt.analysis.layout import EXTRA_COLUMNS, RELEASED_COLUMNS, label_column, panel_columns, read_melt_csv
from melt.data.labels import EMOTIONS

INT_COLUMNS = ("Sr_No.", "Dialogue_ID", "Utterance_ID", "Season", "Episode")
FLOAT_COLUMNS = ("llm_confidence", "duration_s")
LABEL_COLUMNS = ("Emotion", "llm_label")
# Published: the released MELT layout, the MELT extras, and the duration (audio_path is a local path).
PUBLISHED_COLUMNS = (*RELEASED_COLUMNS, *EXTRA_COLUMNS, "duration_s")
# excluded.csv as published: why, what the samples said, and the row's released-layout columns (no local paths).
PUBLISHED_EXCLUDED_COLUMNS = ("split", "reason", "detail", "llm_answers",
                              *(c for c in RELEASED_COLUMNS if c != "llm_label"))
# MELD's split names → the Hub's (datasets' `Split` names); MELD's `dev` is published as `validation`.
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


class PublishError(ValueError):
    """Something that stops publishing; the message says what and where."""


def emotion_label() -> ClassLabel:
    return ClassLabel(names=list(EMOTIONS))


def panel_samples(melt_dir: Path) -> dict[str, int]:
    """annotator → samples per utterance, in panel order, from derive's panel.json."""
    path = Path(melt_dir) / "panel.json"
    if not path.is_file():
        raise PublishError(f"{path}: file not found (derive writes it: run the derive stage)")
    return {n: int(a.get("samples", 1)) for n, a in json.loads(path.read_text(encoding="utf-8"))["annotators"].items()}


def melt_features(include_audio: bool, panel: dict[str, int] | None = None) -> Features:
    """The published features; `panel` (annotator → samples) adds the panel's columns: `panel_agreement`, a
    ClassLabel `label_<name>` per annotator (null where it gave no label) and `confidence_<name>` (several samples)."""
    feats = {}
    for col in PUBLISHED_COLUMNS:
        if col in LABEL_COLUMNS:
            feats[col] = emotion_label()
        elif col in INT_COLUMNS:
            feats[col] = Value("int64")
        elif col in FLOAT_COLUMNS:
            feats[col] = Value("float64")
        else:
            feats[col] = Value("string")
    for col in panel_columns(panel or {}) if panel else ():
        feats[col] = emotion_label() if col in {label_column(n) for n in panel} else Value("float64")
    if include_audio:
        feats["audio"] = Audio(sampling_rate=16000, decode=False)
    return Features(feats)


def _panel_typed(df: pd.DataFrame, path: Path, panel: dict[str, int]) -> pd.DataFrame:
    """Panel columns typed: empty cells → null, labels → ClassLabel ids."""
    out = pd.DataFrame(index=df.index)
    for col in panel_columns(panel):
        values = df[col]
        if col in {label_column(n) for n in panel}:
            bad = (values != "") & ~values.isin(EMOTIONS)
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise PublishError(f"{path}: row {i + 1}: {col} {values.iloc[i]!r} is not one of the 7 emotions")
            out[col] = pd.array([EMOTIONS.index(v) if v else None for v in values], dtype="Int64")
        else:
            out[col] = pd.to_numeric(values.replace("", None), errors="raise").astype("float64")
    return out


def typed_columns(df: pd.DataFrame, path: Path, panel: dict[str, int] | None = None) -> pd.DataFrame:
    out = df[list(PUBLISHED_COLUMNS)].copy()
    for col in (*INT_COLUMNS, *FLOAT_COLUMNS):
        converted = pd.to_numeric(out[col], errors="coerce")
        bad = converted.isna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise PublishError(f"{path}: row {i + 1}: {col} {out[col].iloc[i]!r} is not a number")
        out[col] = converted.astype("int64" if col in INT_COLUMNS else "float64")
    for col in LABEL_COLUMNS:
        bad = ~out[col].isin(EMOTIONS)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise PublishError(f"{path}: row {i + 1}: {col} {out[col].iloc[i]!r} is not one of the 7 emotions")
        out[col] = out[col].map(EMOTIONS.index)
    if panel:
        missing = [c for c in panel_columns(panel) if c not in df.columns]
        if missing:
            raise PublishError(f"{path}: missing panel column(s) {', '.join(missing)} (re-run `dvc repro derive`)")
        out = pd.concat([out, _panel_typed(df, path, panel)], axis=1)
    return out


def audio_column(df: pd.DataFrame, path: Path, root: Path) -> list[dict]:
    cells = []
    for i, (rel, name) in enumerate(zip(df["audio_path"], df["filename"]), 1):
        audio = root / rel if rel else None
        if audio is None or not audio.is_file():
            raise PublishError(f"{path}: row {i}: audio_path {rel!r} not found (publish.include_audio is on)")
        cells.append({"bytes": audio.read_bytes(), "path": name})
    return cells


def build_splits(melt_dir: Path, splits: tuple[str, ...], include_audio: bool, root: Path = Path(".")) -> DatasetDict:
    """The non-empty splits under their Hub names (an empty split, e.g. `dev` when only train and test were
    labelled, is left out: `load_dataset` rejects a split with no data)."""
    panel = panel_samples(melt_dir)
    features = melt_features(include_audio, panel)
    out = {}
    for split in splits:
        path = Path(melt_dir) / f"{split}.csv"
        df = read_melt_csv(path)
        if df.empty:
            continue
        typed = typed_columns(df, path, panel)
        if include_audio:
            typed["audio"] = audio_column(df, path, root)
        out[HUB_SPLITS[split]] = Dataset.from_pandas(typed, features=features, preserve_index=False)
    if not out:
        raise PublishError(f"{melt_dir}: every split is empty: no labelled row to publish")
    return DatasetDict(out)


def published_exclusions(path: Path) -> pd.DataFrame:
    """data/melt/excluded.csv reduced to the published columns, splits under their Hub names."""
    df = read_melt_csv(path, PUBLISHED_EXCLUDED_COLUMNS)[list(PUBLISHED_EXCLUDED_COLUMNS)].copy()
    df["split"] = df["split"].map(lambda s: HUB_SPLITS.get(s, s))
    return df
