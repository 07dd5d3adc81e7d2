"""Column layout of the MELT CSVs (contracts: released MELT layout, then MELT extras, then downstream keys)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RELEASED_COLUMNS: tuple[str, ...] = (
    "filename", "Sr_No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
    "Utterance_ID", "Season", "Episode", "StartTime", "EndTime", "llm_label",
)
EXTRA_COLUMNS: tuple[str, ...] = (
    "context", "loudness", "pitch", "rhythm_speed", "emotional_impact",
    "llm_votes", "llm_confidence", "character_check", "annotation_key",
)
DOWNSTREAM_COLUMNS: tuple[str, ...] = ("split", "dialogue_id", "utterance_id", "duration_s", "audio_path")
MELT_COLUMNS: tuple[str, ...] = (*RELEASED_COLUMNS, *EXTRA_COLUMNS, *DOWNSTREAM_COLUMNS)
# excluded.csv: why, then what the samples answered, then the row as it would have been.
EXCLUDED_COLUMNS: tuple[str, ...] = ("reason", "detail", "llm_answers", *MELT_COLUMNS)
# After those, the panel's columns (the study app reads them): agreement, then per annotator its label and,
# for an annotator with several samples, its vote share.
PANEL_AGREEMENT = "panel_agreement"


def label_column(annotator: str) -> str:
    return f"label_{annotator}"


def confidence_column(annotator: str) -> str:
    return f"confidence_{annotator}"


def panel_columns(samples: dict[str, int]) -> tuple[str, ...]:
    """`samples`: annotator → its samples per utterance, in panel order."""
    cols = [PANEL_AGREEMENT]
    for name, n in samples.items():
        cols.append(label_column(name))
        if n > 1:
            cols.append(confidence_column(name))
    return tuple(cols)


class MeltCsvError(ValueError):
    """A MELT-layout CSV that cannot be used; the message names the file and the problem."""


def read_melt_csv(path: Path, required: tuple[str, ...] = MELT_COLUMNS) -> pd.DataFrame:
    """A MELT CSV with every value as a string (empty = missing), so pass-through columns stay byte-exact."""
    path = Path(path)
    if not path.is_file():
        raise MeltCsvError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise MeltCsvError(f"{path}: not a readable CSV: {err}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise MeltCsvError(f"{path}: missing column(s) {', '.join(missing)}")
    return df
