"""The 3-way sentiment answer: its validation (the engine's `check` for sentiment prompts) and VADER.

VADER (Hutto & Gilbert, ICWSM 2014; the `vaderSentiment` package, which ships its lexicon) is a
rule-based sentiment lexicon, NOT an LLM: it stands in for GPT-3.5-turbo offline, named `vader-<version>`
in every request key and output. Its documented thresholds map the compound score to a label:
>= 0.05 positive, <= -0.05 negative, else neutral.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import version

from melt.annotate.schema import Checked
from melt.pretrain.params import SENTIMENTS

VADER_ID = f"vader-{version('vaderSentiment')}"
_EDGES = re.compile(r"^[\s\"'`*.:!]+|[\s\"'`*.:!]+$")


def check_sentiment(raw: str | None) -> Checked:
    """Exactly one of positive / negative / neutral (any case; surrounding quotes, asterisks or a full stop
    tolerated). Anything else is invalid with the reason, never coerced: "mostly positive" is not "positive"."""
    if raw is None or not raw.strip():
        return Checked(None, None, "empty answer")
    word = _EDGES.sub("", raw).lower()
    if word in SENTIMENTS:
        return Checked(word, {"label": word}, None)
    shown = raw.strip() if len(raw.strip()) <= 60 else raw.strip()[:57] + "..."
    return Checked(None, None, f"out-of-set answer {shown!r} (expected one word: {', '.join(SENTIMENTS)})")


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_label(text: str) -> str:
    compound = _analyzer().polarity_scores(text)["compound"]
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
