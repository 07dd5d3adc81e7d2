"""Params of the corpus (`data`) and of the `prepare` stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section

DEMO_DIR = Path("demo/sitcom")


class DataParams(Section):
    source: Literal["demo", "meld"] = "demo"
    # Folder with train/dev/test_sent_emo.csv; required when source is meld.
    meld_dir: Path | None = None
    # Folder with per-split audio subfolders (see README); optional.
    meld_audio_dir: Path | None = None

    @model_validator(mode="after")
    def _meld_needs_dir(self):
        if self.source == "meld" and self.meld_dir is None:
            raise ValueError("data.meld_dir is required when data.source is 'meld'")
        return self

    @property
    def csv_dir(self) -> Path:
        return DEMO_DIR if self.source == "demo" else self.meld_dir

    @property
    def audio_dir(self) -> Path | None:
        return DEMO_DIR / "audio" if self.source == "demo" else self.meld_audio_dir


class PrepareParams(Section):
    min_duration_s: float = Field(1.0, ge=0)
    min_words: int = Field(3, ge=0)
    min_speaker_utterances: int = Field(10, ge=0)
    exclude_speakers: tuple[str, ...] = ("all", "guy", "the casting director", "the interviewer")
    # Encoding of the CSVs; MELD's are UTF-8, some copies are cp1252.
    csv_encoding: str = "utf-8"
    # ffmpeg processes converting .mp4 to 16 kHz mono WAV.
    convert_workers: int = Field(2, ge=1)
