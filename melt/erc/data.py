"""The `erc_data` stage: one dialogue table per dataset, `data/erc/<dataset>.csv`, and its exclusions,
`data/erc/<dataset>_excluded.csv` (readers: melt.data.dialogues; the later stages read the table with
melt.erc.table)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from melt.data.dialogues import EXCLUDED_COLUMNS, SPLITS, TURN_COLUMNS
from melt.erc.params import ErcParams
from melt.io import write_csv


def read_dataset(erc: ErcParams, dataset: str, data_source: str, corpus_path: Path | None,
                 prepared_dir: str | Path, melt_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(turns, excluded) of one dataset; a clear error when its input is not configured."""
    if dataset in ("demo", "meld"):
        from melt.data.dialogues.meld import read_meld_dialogues

        if data_source != dataset:
            raise ValueError(f"erc.datasets has {dataset!r} but data.source is {data_source!r}: data/prepared holds "
                             f"the {data_source} corpus (use erc.datasets.{data_source}, or set data.source)")
        return read_meld_dialogues(prepared_dir, melt_dir, dataset, erc.datasets[dataset])
    if corpus_path is None:
        raise ValueError(f"erc.datasets has {dataset!r} but ser.corpora.{dataset}.path is not set")
    if not Path(corpus_path).is_dir():
        raise ValueError(f"ser.corpora.{dataset}.path = {str(corpus_path)!r}: no such folder")
    if dataset == "iemocap":
        from melt.data.dialogues.iemocap import read_iemocap_dialogues

        split = erc.iemocap
        return read_iemocap_dialogues(corpus_path, dataset, split.test_session, split.validation_session,
                                      split.validation_fraction, split.validation_seed)
    from melt.data.dialogues.cmumosi import read_cmumosi_dialogues

    return read_cmumosi_dialogues(corpus_path, dataset)


def build_tables(erc: ErcParams, data_source: str, corpus_paths: dict[str, Path | None], prepared_dir: str | Path,
                 melt_dir: str | Path, out_dir: str | Path) -> dict[str, dict]:
    """Write every dataset's table and exclusions; returns counts per dataset for the log."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.csv"):   # a dataset dropped from erc.datasets leaves no table behind
        stale.unlink()
    summary = {}
    for dataset in erc.datasets:
        turns, excluded = read_dataset(erc, dataset, data_source, corpus_paths.get(dataset), prepared_dir, melt_dir)
        for split in SPLITS:
            if not (turns["split"] == split).any():
                raise ValueError(f"{dataset}: no turns in the {split} split")
        write_csv(turns[list(TURN_COLUMNS)], out_dir / f"{dataset}.csv")
        write_csv(excluded[list(EXCLUDED_COLUMNS)], out_dir / f"{dataset}_excluded.csv")
        summary[dataset] = {"dialogues": int(turns["dialogue_id"].nunique()), "turns": len(turns),
                            "per_split": {s: int((turns["split"] == s).sum()) for s in SPLITS},
                            "scored": int(turns["label"].notna().sum()), "excluded": len(excluded)}
    return summary
