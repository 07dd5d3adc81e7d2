"""The paper's cross-check: does the character the LLM names match the row's speaker?"""

from __future__ import annotations

import re
import unicodedata

MATCH, MISMATCH, MISSING = "match", "mismatch", "missing"


def _tokens(name: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return tuple(re.findall(r"[a-z0-9]+", text))


def character_check(character: object, speaker: str) -> str:
    """`match` when one name's words are all in the other's ("Joey" vs "Joey Tribbiani", case, accents
    and punctuation ignored), `mismatch` otherwise, `missing` when the answer names no character."""
    if not isinstance(character, str) or not _tokens(character):
        return MISSING
    said, spoke = set(_tokens(character)), set(_tokens(speaker))
    if not spoke:
        return MISMATCH
    return MATCH if said <= spoke or spoke <= said else MISMATCH
