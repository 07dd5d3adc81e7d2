"""A dataset in memory for training and inference: the dialogue table, labels as class indices, and each
modality's embeddings with an availability mask (a turn whose audio is missing has no audio embedding)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from melt.erc.table import MODALITIES, read_table


@dataclass
class Modality:
    x: np.ndarray             # (N, layers, dim) float32, zeros where missing
    ok: np.ndarray            # (N,) bool
    reason: list[str | None]  # why a turn has no embedding


@dataclass
class DialogueSet:
    turns: pd.DataFrame          # the table's rows, in dialogue and turn order
    classes: tuple[str, ...]
    y: np.ndarray                # (N,) class index, -1 for a context-only turn
    dialogues: list[np.ndarray]  # row indices of each dialogue, in turn order
    modalities: dict[str, Modality]

    def in_split(self, split: str) -> list[int]:
        """Indices (into `dialogues`) of the dialogues of one split."""
        splits = self.turns["split"].to_numpy()
        return [k for k, rows in enumerate(self.dialogues) if splits[rows[0]] == split]

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.turns["split"].to_numpy() == split)


def group_dialogues(turns: pd.DataFrame) -> list[np.ndarray]:
    """Row indices per dialogue (in table order, which is turn order); checks turns are 0..n-1."""
    out = []
    for dialogue, rows in turns.groupby("dialogue_id", sort=False).indices.items():
        order = turns["turn"].to_numpy()[rows]
        if not np.array_equal(order, np.arange(len(rows))):
            raise ValueError(f"dialogue {dialogue!r}: turns {order.tolist()} are not 0..{len(rows) - 1} in order")
        out.append(np.asarray(rows))
    return out


def load_modality(features_dir: str | Path, dataset: str, item_ids: pd.Series) -> tuple[Modality, dict]:
    """Embeddings of `item_ids` (in that order) from an `erc_embed` output; missing ones are zeros, not ok."""
    features_dir = Path(features_dir)
    info_path = features_dir / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path}: missing (run the erc_embed stage)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    index = pd.read_csv(features_dir / "index.csv", dtype=str, keep_default_na=False)
    index = index[index["dataset"] == dataset].set_index("item_id")
    x = np.zeros((len(item_ids), info["layers"], info["dim"]), dtype=np.float32)
    ok = np.zeros(len(item_ids), dtype=bool)
    reasons: list[str | None] = []
    for i, item in enumerate(item_ids):
        if item not in index.index:
            reasons.append(f"not in {features_dir}/index.csv (re-run erc_embed)")
            continue
        row = index.loc[item]
        if row["status"] != "ok":
            reasons.append(row["reason"] or row["status"])
            continue
        x[i] = np.load(features_dir / row["vectors"])[0]
        ok[i] = True
        reasons.append(None)
    return Modality(x, ok, reasons), info


def label_indices(labels: pd.Series, classes: tuple[str, ...], where: str) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    bad = sorted({l for l in labels.dropna() if l not in index})
    if bad:
        raise ValueError(f"{where}: label(s) {', '.join(map(repr, bad))} not among {', '.join(classes)}")
    return np.array([index[l] if isinstance(l, str) else -1 for l in labels], dtype=np.int64)


def load_dialogue_set(tables_dir: str | Path, dataset: str, classes: tuple[str, ...],
                      features_dirs: dict[str, str | Path]) -> tuple[DialogueSet, dict[str, dict]]:
    """(the dataset, each modality's info.json) from the erc_data table and the erc_embed outputs."""
    turns = read_table(tables_dir, dataset)
    y = label_indices(turns["label"], classes, str(Path(tables_dir) / f"{dataset}.csv"))
    modalities, infos = {}, {}
    for m in MODALITIES:
        modalities[m], infos[m] = load_modality(features_dirs[m], dataset, turns["item_id"])
    return DialogueSet(turns, classes, y, group_dialogues(turns), modalities), infos
