"""The classes of each dataset's label set (the order of a model's outputs)."""

from __future__ import annotations

from melt.data.corpora import corpus_classes
from melt.data.dialogues.cmumosi import LABELS as MOSI_LABELS
from melt.data.labels import EMOTIONS


def classes(dataset: str, labels: str) -> tuple[str, ...]:
    if dataset in ("demo", "meld"):
        return EMOTIONS
    if dataset == "iemocap":
        return corpus_classes("iemocap")   # neutral, joy (happy + excited), anger, sadness: labelmaps/iemocap.csv
    if dataset == "cmumosi":
        return MOSI_LABELS
    raise ValueError(f"unknown dataset {dataset!r}")
