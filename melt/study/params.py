"""Params of the human studies (`study` section): the study set, the app, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from melt.data.labels import EMOTIONS
from melt.params_base import Section

Split = Literal["train", "dev", "test"]


class StudyParams(Section):
    db: Path = Field(Path("study/melt-study.db"), description=(
        "SQLite database of the app (participants, answers, review decisions); created on first start. A relative "
        "path is resolved against the repository root ($DVC_ROOT inside `dvc exp run --temp/--queue`), so every "
        "experiment reads the same answers. `study_report` and `review_apply` depend on its folder `study/`."))
    splits: tuple[Split, ...] = Field(("train", "dev", "test"), min_length=1, description=(
        "Splits of `data/melt` the study set and the review queue draw from."))
    labels: tuple[str, ...] = Field(EMOTIONS, min_length=1, description=(
        "MELD emotions the preference test samples from (stratified) and reports on, in this order."))
    per_label: int = Field(5, ge=1, description=(
        "Disagreement items (MELT label ≠ MELD label) sampled per MELD emotion; an emotion with fewer "
        "disagreements contributes all it has (the shortfall is recorded in `data/study/sampling.json`)."))
    seed: int = Field(0, description="Seed of the stratified sampling of `data/study/items.csv`.")
    attention_items: int = Field(4, ge=0, description=(
        "Attention-check items in the study set: utterances whose MELT and MELD labels agree, shown with that "
        "label and an obviously wrong one (`attention_labels`)."))
    attention_labels: dict[str, str] = Field({"joy": "sadness", "sadness": "joy", "anger": "joy"}, description=(
        "Agreed label → the obviously wrong option shown beside it in an attention check; only utterances with "
        "one of these agreed labels become attention checks (sampled round-robin over the labels)."))
    media: Literal["auto", "audio", "video"] = Field("auto", description=(
        "What a question plays: `audio` (the utterance's WAV), `video` (MELD's `.mp4` from `data.meld_audio_dir`; "
        "items without one are left out and recorded), `auto` (the video when there is one, else the audio)."))
    questions_per_participant: int = Field(21, ge=1, description=(
        "Disagreement questions per participant (the paper: 21–42), drawn from the least-answered items so every "
        "item gets a similar number of answers."))
    attention_per_participant: int = Field(2, ge=0, description=(
        "Attention checks inserted at random positions among a participant's questions."))
    max_attention_failures: int = Field(0, ge=0, description=(
        "A participant who fails more attention checks than this is excluded from the report (counted in "
        "`attention_failures`)."))
    host: str = Field("127.0.0.1", description=(
        "Address `melt-study serve` binds to; loopback by default. Put a TLS reverse proxy in front before "
        "binding a public address."))
    port: int = Field(8765, ge=0, le=65535, description="Port of `melt-study serve` (0: any free port, printed).")

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [x for x in labels if x not in EMOTIONS]
        if unknown:
            raise ValueError(f"unknown emotion(s) {unknown}: use MELD's {list(EMOTIONS)}")
        if len(set(labels)) != len(labels):
            raise ValueError("labels must not repeat")
        return labels

    @model_validator(mode="after")
    def _attention_options_differ(self):
        same = [k for k, v in self.attention_labels.items() if k == v]
        if same:
            raise ValueError(f"attention_labels: the wrong option must differ from the agreed label ({same})")
        return self
