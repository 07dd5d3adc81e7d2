"""Evaluation corpora for cross-corpus SER (paper Table 3): IEMOCAP, TESS, RAVDESS, CREMA-D, the demo's acted corpus.

`read_corpus(name, path)` → one row per item: corpus, item_id, audio_path, speaker, source_label, emotion
(a MELT emotion, or empty when excluded), reason (why an item is excluded; empty when kept).
Label maps are data files: `labelmaps/<name>.csv`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from melt.data.corpora.labelmaps import LabelMap, load_label_map
from melt.data.corpora.layouts import read_cremad, read_iemocap, read_ravdess, read_tess
from melt.data.meld import CorpusError  # one error type for unreadable corpora (re-exported)

READERS = {
    "iemocap": read_iemocap,
    "tess": read_tess,
    "ravdess": read_ravdess,
    "cremad": read_cremad,
    "acted": read_tess,  # the demo's acted corpus uses the TESS layout
}
COLUMNS = ["corpus", "item_id", "audio_path", "speaker", "source_label", "emotion", "reason"]



def corpus_classes(name: str) -> tuple[str, ...]:
    """The MELT emotions a corpus has (its label map), in `EMOTIONS` order."""
    return load_label_map(name).classes


def read_corpus(name: str, path: str | Path | None) -> pd.DataFrame:
    """All items of corpus `name` under `path`; errors name the setting `ser.corpora.<name>.path`."""
    param = f"ser.corpora.{name}.path"
    if name not in READERS:
        raise CorpusError(f"unknown corpus {name!r} (known: {', '.join(READERS)})")
    if path is None:
        raise CorpusError(f"{param} is not set: point it at the {name} corpus folder")
    root = Path(path)
    if not root.is_dir():
        raise CorpusError(f"{param} = {str(path)!r}: no such folder")
    label_map: LabelMap = load_label_map(name)
    rows = []
    for row in READERS[name](root):
        emotion = None
        if row["reason"] is None:
            emotion, row["reason"] = label_map.lookup(row["source_label"])
        rows.append({"corpus": name, **row, "emotion": emotion})
    if not rows:
        raise CorpusError(f"{param} = {str(path)!r}: no .wav files in the {name} layout")
    return pd.DataFrame(rows, columns=COLUMNS)
