"""Validation of an answer: the paper's JSON structure, the emotion one of the 7 labels (never coerced)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from melt.data.labels import EMOTIONS, normalize_emotion


class Elements(BaseModel):
    model_config = ConfigDict(extra="ignore")
    emotion: str
    loudness: str
    pitch: str
    rhythm_speed: str
    emotional_impact: str

    @field_validator("emotion")
    @classmethod
    def _in_set(cls, value: str) -> str:
        if normalize_emotion(value) is None:
            raise ValueError(f"out-of-set label {value.strip()!r} (expected one of {', '.join(EMOTIONS)})")
        return value


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    character: str
    context: str
    elements: Elements


@dataclass(frozen=True)
class Checked:
    label: str | None
    parsed: dict | None
    error: str | None


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def check_answer(raw: str | None) -> Checked:
    """Parse and validate one raw answer. A markdown code fence around the JSON is tolerated."""
    if raw is None or not raw.strip():
        return Checked(None, None, "empty answer")
    text = raw
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return Checked(None, None, f"answer is not JSON: {err}")
    try:
        answer = Answer.model_validate(obj)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(answer)"
        msg = first["msg"].removeprefix("Value error, ")
        return Checked(None, obj if isinstance(obj, dict) else None, f"{where}: {msg}")
    return Checked(normalize_emotion(answer.elements.emotion), answer.model_dump(), None)
