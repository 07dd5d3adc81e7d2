"""Reading MELD-format CSVs: columns, encoding, one row per utterance, nothing dropped."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

SPLITS: tuple[str, ...] = ("train", "dev", "test")
MELD_COLUMNS: tuple[str, ...] = (
    "Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
    "Utterance_ID", "Season", "Episode", "StartTime", "EndTime",
)

# data/prepared/{split}.csv: the key, MELD's columns, then what prepare adds.
KEY_COLUMNS: tuple[str, ...] = ("split", "dialogue_id", "utterance_id", "filename")
EXTRA_COLUMNS: tuple[str, ...] = ("start_s", "end_s", "duration_s", "duration_source", "audio_path", "text_repaired", "words")
PREPARED_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *MELD_COLUMNS, *EXTRA_COLUMNS)


class CorpusError(ValueError):
    """Input that cannot be read at all; the message names the file (and row or line)."""


def csv_path(csv_dir: Path, split: str) -> Path:
    return Path(csv_dir) / f"{split}_sent_emo.csv"


def audio_stem(dialogue_id: int, utterance_id: int) -> str:
    return f"dia{dialogue_id}_utt{utterance_id}"


def _decode(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}: line {line} is not valid {encoding} (byte 0x{data[err.start]:02x}); "
            f"set prepare.csv_encoding to the file's encoding (e.g. cp1252)"
        ) from None
    except LookupError:
        raise CorpusError(f"prepare.csv_encoding: unknown encoding {encoding!r}") from None
    return text.removeprefix("\ufeff")


def read_meld_csv(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """All rows as strings, plus ``row`` (1-based data row, as in error messages)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    text = _decode(path, encoding)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CorpusError(f"{path}: not a readable CSV: {err}") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in MELD_COLUMNS if c not in df.columns]
    if missing:
        raise CorpusError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns)}")
    df.insert(0, "row", range(1, len(df) + 1))
    return df
