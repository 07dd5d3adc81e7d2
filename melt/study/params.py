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
    context_turns: int = Field(3, ge=0, le=20, description=(
        "Preceding turns of the same dialogue (speaker, text, playable clip) shown to a reviewer above each "
        "utterance, taken from `data/prepared` (so turns the paper's filter excluded still appear)."))
    participants_per_minute: int = Field(10, ge=1, description=(
        "New participants per client address and minute (a leaky bucket: this many at once, then one every "
        "60/N s); beyond it `POST /api/participants` answers 429 with `Retry-After`. Behind a reverse proxy on "
        "the same machine the address comes from `X-Forwarded-For` (uvicorn trusts it from 127.0.0.1 only)."))
    max_participants: int = Field(500, ge=1, description=(
        "Participants the study accepts in total; the next one gets 403 (`the study is full`)."))
    assignment_timeout_min: float = Field(30, gt=0, description=(
        "Minutes after a participant's last answer (or sign-up) after which their unanswered questions count as "
        "abandoned: items are balanced on answers given plus questions still being worked on, so an abandoned "
        "participant's items return to the pool (they can still answer them if they come back)."))
    min_play_share: float = Field(0.9, ge=0, le=1, description=(
        "Share of the clip's duration (`duration_s` of `data/melt`) that must have played before an answer "
        "(`media_played_s`, sent by the page); the page unlocks the buttons at the same share."))
    play_check: Literal["refuse", "flag"] = Field("refuse", description=(
        "An answer with less play time than `min_play_share`: `refuse` (422, no answer stored, the attempt kept in "
        "`play_refusals`) or `flag` (stored with `played_enough = 0` and left out of the preference shares); "
        "`study_report` counts both."))
    media_url_ttl_s: int = Field(900, ge=10, le=86400, description=(
        "Lifetime of the signed media URLs the app hands to a participant's or reviewer's page (an expired one is "
        "refused; the page fetches fresh URLs)."))
    bootstrap_resamples: int = Field(2000, ge=100, description=(
        "Resamples of the participant-level cluster bootstrap behind the headline 95 % intervals of "
        "`metrics/study.json`."))
    bootstrap_seed: int = Field(0, description="Seed of the cluster bootstrap (intervals are reproducible).")

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
