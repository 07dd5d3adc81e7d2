"""The `reviewed` config of the Hub dataset: `data/melt_reviewed` (the MELT rows with the final label the review
app produced) published beside the default config once at least one row carries a reviewer's decision.

The columns are those `melt.study.review_apply` writes; they are restated here rather than imported so that
publishing does not depend on the study app's code (a test checks the two lists agree).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from melt.analysis.layout import read_melt_csv
from melt.publish.dataset import (HUB_SPLITS, PUBLISHED_COLUMNS, PublishError, audio_column, melt_features,
                                  typed_columns)

CONFIG = "reviewed"
REVIEW_COLUMNS = ("final_label", "label_source", "reviewer", "reviewed_at")
LABEL_SOURCES = ("llm", "meld", "reviewer")


def reviewed_features(include_audio: bool) -> Features:
    feats = dict(melt_features(include_audio=False))
    # final_label is a string: a reviewer may choose "neither" with a free label outside the 7 emotions
    feats.update(final_label=Value("string"), label_source=ClassLabel(names=list(LABEL_SOURCES)),
                 reviewer=Value("string"), reviewed_at=Value("string"))
    if include_audio:
        feats["audio"] = melt_features(include_audio=True)["audio"]
    return Features(feats)


def _review_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = df[list(REVIEW_COLUMNS)].copy()
    bad = ~out["label_source"].isin(LABEL_SOURCES)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise PublishError(f"{path}: row {i + 1}: label_source {out['label_source'].iloc[i]!r} is not one of "
                           f"{', '.join(LABEL_SOURCES)}")
    empty = out["final_label"].str.strip() == ""
    if empty.any():
        raise PublishError(f"{path}: row {int(empty.to_numpy().nonzero()[0][0]) + 1}: final_label is empty")
    out["label_source"] = out["label_source"].map(LABEL_SOURCES.index)
    return out


def build_reviewed(reviewed_dir: Path, melt_splits: DatasetDict, splits: tuple[str, ...], include_audio: bool,
                   root: Path = Path(".")) -> tuple[DatasetDict | None, dict]:
    """(the `reviewed` config's splits, or None when no row has a reviewer's decision; rows and reviewed rows per
    Hub split). Its splits are the default config's: the same rows, in the same order."""
    if not Path(reviewed_dir).is_dir():   # review_apply has not run (e.g. the stage script run outside DVC)
        return None, {}
    features = reviewed_features(include_audio)
    out, counts = {}, {}
    for split in splits:
        name = HUB_SPLITS[split]
        if name not in melt_splits:
            continue
        path = Path(reviewed_dir) / f"{split}.csv"
        df = read_melt_csv(path, (*PUBLISHED_COLUMNS, *REVIEW_COLUMNS))
        if len(df) != len(melt_splits[name]):
            raise PublishError(f"{path}: {len(df)} rows, but data/melt's {split} split has {len(melt_splits[name])}: "
                               "re-run `dvc repro review_apply`")
        base = typed_columns(df, path)
        for col in ("Dialogue_ID", "Utterance_ID"):
            if base[col].tolist() != list(melt_splits[name][col]):
                raise PublishError(f"{path}: its rows are not data/melt's {split} rows in order ({col} differs): "
                                   "re-run `dvc repro review_apply`")
        table = pd.concat([base, _review_columns(df, path)], axis=1)
        if include_audio:
            table["audio"] = audio_column(df, path, root)
        out[name] = Dataset.from_pandas(table, features=features, preserve_index=False)
        counts[name] = {"rows": len(df), "reviewed": int((df["reviewer"] != "").sum())}
    if not any(c["reviewed"] for c in counts.values()):
        return None, counts
    return DatasetDict(out), counts
