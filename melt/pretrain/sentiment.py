"""The 3-way sentiment label set and its offline answerer, VADER.

VADER (Hutto & Gilbert, ICWSM 2014; the `vaderSentiment` package, which ships its lexicon) is a
rule-based sentiment lexicon, NOT an LLM: it stands in for GPT-3.5-turbo offline, named `vader-<version>`
in every request key and output. Its documented thresholds map the compound score to a label:
>= 0.05 positive, <= -0.05 negative, else neutral.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

VADER_ID = f"vader-{version('vaderSentiment')}"


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_label(text: str) -> str:
    compound = _analyzer().polarity_scores(text)["compound"]
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
