"""Majority vote over an utterance's samples, with a deterministic tie rule."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from melt.analysis.annotations import Answer
from melt.data.labels import EMOTIONS


@dataclass(frozen=True)
class Vote:
    label: str | None          # None: no valid answer, or a tie under tie_break "exclude"
    votes: dict[str, int]      # valid labels → count, most voted first
    confidence: float          # winner's votes / all samples (invalid and failed samples count against it)
    tied: bool                 # several labels shared the top count
    source: Answer | None      # the first sample that gave the winning label (its descriptions are used)


def majority_vote(answers: list[Answer], tie_break: str = "first_sample") -> Vote:
    """answers sorted by sample index. Ties: see DeriveParams.tie_break."""
    valid = [a for a in answers if a.status == "ok"]
    counts = Counter(a.label for a in valid)
    first_seen = {}
    for a in valid:
        first_seen.setdefault(a.label, a.sample)
    order = sorted(counts, key=lambda lab: (-counts[lab], first_seen[lab]))
    votes = {lab: counts[lab] for lab in order}
    if not valid:
        return Vote(None, votes, 0.0, False, None)
    top = [lab for lab in order if counts[lab] == counts[order[0]]]
    tied = len(top) > 1
    if tied and tie_break == "exclude":
        return Vote(None, votes, counts[top[0]] / len(answers), True, None)
    if tie_break == "label_order":
        winner = min(top, key=EMOTIONS.index)
    else:  # first_sample (and the no-tie case): order is already by first appearance among the top
        winner = top[0]
    source = next(a for a in valid if a.label == winner)
    return Vote(winner, votes, counts[winner] / len(answers), tied, source)


def votes_json(votes: dict[str, int]) -> str:
    return json.dumps(votes, separators=(",", ":"))
