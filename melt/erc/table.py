"""Reading a dialogue table of the `erc_data` stage (`data/erc/<dataset>.csv`, columns
melt.data.dialogues.TURN_COLUMNS), and the modalities every later stage works with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

MODALITIES = ("text", "audio")


def read_table(tables_dir: str | Path, dataset: str) -> pd.DataFrame:
    path = Path(tables_dir) / f"{dataset}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run the erc_data stage for erc.datasets.{dataset})")
    df = pd.read_csv(path, dtype={"dialogue_id": str, "item_id": str, "speaker": str, "text": str, "label": str,
                                  "audio_path": str, "subset": str, "note": str}, keep_default_na=False,
                     na_values={"score": [""]})
    for column in ("label", "audio_path", "subset", "note"):
        df[column] = df[column].replace("", None)
    return df
