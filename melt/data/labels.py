"""The seven MELD/MELT emotions, in the order of the paper's prompt."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "sadness", "joy", "neutral", "surprise", "fear")


def normalize_emotion(value: object) -> str | None:
    """Lower-case, stripped label if it is one of the seven, else None (never coerced)."""
    if not isinstance(value, str):
        return None
    label = value.strip().lower()
    return label if label in EMOTIONS else None
