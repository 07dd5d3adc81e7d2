"""Params of the corpus (`data`) and of the `prepare` stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section

DEMO_DIR = Path("demo/sitcom")


class DataParams(Section):
    source: Literal["demo", "meld"] = Field("demo", description=(
        "`demo`: the embedded demo sitcom in `demo/sitcom` (synthetic speech, original text, MIT); "
        "`meld`: the MELD CSVs in `data.meld_dir` (GPL-3.0)."))
    meld_dir: Path | None = Field(None, description=(
        "Folder holding MELD's `train_sent_emo.csv`, `dev_sent_emo.csv` and `test_sent_emo.csv`; required when "
        "`data.source` is `meld`. DVC does not hash it: after changing the files run `dvc repro -f prepare`."))
    meld_audio_dir: Path | None = Field(None, description=(
        "Optional audio per split: `{train,dev,test}/` or MELD.Raw's `train_splits/`, `dev_splits_complete/`, "
        "`output_repeated_splits_test/`, files `dia{D}_utt{U}` as .wav, .flac or .mp4 (converted to 16 kHz mono "
        "WAV). null: durations come from the timestamps."))

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
    min_duration_s: float = Field(1.0, ge=0, description=(
        "Utterances shorter than this many seconds are excluded (`too_short`); duration from the audio when "
        "present, else from the timestamps. The paper: 1 s."))
    min_words: int = Field(3, ge=0, description=(
        "Utterances with fewer whitespace-separated words are excluded (`too_few_words`); 3 reproduces the "
        "released MELT rows."))
    min_speaker_utterances: int = Field(10, ge=0, description=(
        "A speaker is kept when they have at least this many train utterances that pass the duration, word and "
        "generic-speaker rules; others are excluded (`rare_speaker`) in every split."))
    exclude_speakers: tuple[str, ...] = Field(("all", "guy", "the casting director", "the interviewer"),
                                              description=(
        "Generic speaker tags (compared lower-case) excluded as `generic_speaker`: the paper keeps named "
        "speakers only."))
    csv_encoding: str = Field("utf-8", description=(
        "Text encoding of the CSVs (any Python codec name): MELD's are UTF-8; set `cp1252` for copies saved in "
        "that encoding."))
    convert_workers: int = Field(2, ge=1, description=(
        "Parallel ffmpeg processes converting `.mp4` files to 16 kHz mono WAV (output only depends on the files)."))
