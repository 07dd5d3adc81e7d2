"""Which answer a request expects: the engine validates each answer with the spec its request carries.

A request record without `answer` expects MELT's JSON structure (melt.annotate.schema). Other consumers of
the engine (e.g. sentiment pseudo-labels) put `"answer": {"kind": "one_word", "labels": [...]}` in their
records. Validation never enters the request key: the key covers what determines the LLM's answer, so the
same prompt asked by two consumers is paid once and each validates the stored raw answer its own way.
"""

from __future__ import annotations

import re

from melt.annotate.schema import Checked, check_answer

_EDGES = re.compile(r"^[\s\"'`*.:!]+|[\s\"'`*.:!]+$")


def check_one_word(raw: str | None, labels: list[str]) -> Checked:
    """Exactly one of `labels` (any case; surrounding quotes, asterisks or a full stop tolerated). Anything else
    is invalid with the reason, never coerced: "mostly positive" is not "positive"."""
    if raw is None or not raw.strip():
        return Checked(None, None, "empty answer")
    word = _EDGES.sub("", raw).lower()
    if word in labels:
        return Checked(word, {"label": word}, None)
    shown = raw.strip() if len(raw.strip()) <= 60 else raw.strip()[:57] + "..."
    return Checked(None, None, f"out-of-set answer {shown!r} (expected one word: {', '.join(labels)})")


def check(prompt: dict, raw: str | None) -> Checked:
    spec = prompt.get("answer")
    if spec is None:
        return check_answer(raw)
    if spec.get("kind") == "one_word":
        return check_one_word(raw, list(spec["labels"]))
    raise ValueError(f"request {prompt.get('key')}: unknown answer spec {spec!r}")
