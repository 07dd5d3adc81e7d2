"""The study's id of an utterance."""

from __future__ import annotations

import hashlib


def item_id(split: str, dialogue_id: int, utterance_id: int) -> str:
    """Opaque, stable id of an utterance: it names media URLs without revealing the utterance or its labels."""
    return hashlib.sha256(f"{split}/{dialogue_id}/{utterance_id}".encode()).hexdigest()[:16]
