"""Label maps of the evaluation corpora: one CSV per corpus in `labelmaps/` (source label → MELT emotion)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from melt.data.labels import EMOTIONS, normalize_emotion

LABELMAP_DIR = Path(__file__).parent / "labelmaps"


@dataclass(frozen=True)
class LabelMap:
    corpus: str
    emotions: dict[str, str | None]  # source label → MELT emotion, None = dropped by the protocol
    notes: dict[str, str]

    @property
    def classes(self) -> tuple[str, ...]:
        """The corpus's MELT classes, in the order of `EMOTIONS` (the head of a model for this corpus)."""
        kept = {e for e in self.emotions.values() if e}
        return tuple(e for e in EMOTIONS if e in kept)

    def lookup(self, source: str) -> tuple[str | None, str | None]:
        """(emotion, None) for a kept label, (None, reason) for a dropped or unknown one."""
        if source not in self.emotions:
            return None, f"unknown label {source!r} (not in labelmaps/{self.corpus}.csv)"
        emotion = self.emotions[source]
        if emotion is None:
            return None, f"label {source!r} dropped: {self.notes.get(source) or 'not in the protocol'}"
        return emotion, None


def load_label_map(corpus: str) -> LabelMap:
    path = LABELMAP_DIR / f"{corpus}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no label map for corpus {corpus!r}: expected {path}")
    df = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    emotions: dict[str, str | None] = {}
    notes: dict[str, str] = {}
    for i, row in df.iterrows():
        source, target = row["source"].strip(), row["emotion"].strip()
        if target and normalize_emotion(target) is None:
            raise ValueError(f"{path}: row {i + 1}: {target!r} is not one of {', '.join(EMOTIONS)}")
        emotions[source] = normalize_emotion(target) if target else None
        notes[source] = row.get("note", "")
    return LabelMap(corpus, emotions, notes)
