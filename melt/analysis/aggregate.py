"""The panel's label per utterance from its annotators' labels: majority or Dawid–Skene (crowd-kit).

Input: per task (an utterance), the label of each annotator that gave one (its own vote over its samples).
Output per task: the panel label, its posterior (`llm_confidence`), whether the top was tied; per annotator the
estimated confusion matrix P(annotator says k | true label c). Deterministic: tasks and annotators are fed in
a fixed order, posteriors are rounded to 6 decimals before the argmax, and ties are broken by a fixed rule
(`derive.tie_break`): `first_sample` → the tied label of the first annotator in panel order that gave one (else
label order), `label_order` → the first in EMOTIONS, `exclude` → no label.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from melt.data.labels import EMOTIONS

DECIMALS = 6
METHODS = ("dawid_skene", "majority")


@dataclass(frozen=True)
class Decision:
    label: str | None          # None: a tie under tie_break "exclude"
    confidence: float          # the label's posterior (DS) or vote share (majority), rounded
    tied: bool
    posterior: dict[str, float]


@dataclass
class Aggregate:
    method: str
    decisions: dict[object, Decision]               # task → decision
    confusion: dict[str, pd.DataFrame]              # annotator → true label (rows) × its label (columns)
    prior: dict[str, float]


def _decide(posterior: dict[str, float], labels_given: list[str], tie_break: str) -> Decision:
    rounded = {lab: round(float(posterior.get(lab, 0.0)), DECIMALS) for lab in EMOTIONS}
    top = max(rounded.values())
    tied_labels = [lab for lab in EMOTIONS if rounded[lab] == top]
    tied = len(tied_labels) > 1
    if not tied:
        label = tied_labels[0]
    elif tie_break == "exclude":
        label = None
    elif tie_break == "first_sample":
        label = next((lab for lab in labels_given if lab in tied_labels), tied_labels[0])
    else:   # label_order
        label = tied_labels[0]
    return Decision(label, top, tied, {k: v for k, v in rounded.items() if v > 0})


def _frame(labels: dict[object, dict[str, str]], annotators: list[str]) -> pd.DataFrame:
    rows = [(i, a, given[a]) for i, given in enumerate(labels.values()) for a in annotators if a in given]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def majority(labels: dict[object, dict[str, str]], annotators: list[str], tie_break: str) -> Aggregate:
    """Vote share over the whole panel (an annotator without a label counts against the winner)."""
    decisions = {}
    for task, given in labels.items():
        counts = {lab: sum(1 for a in annotators if given.get(a) == lab) for lab in EMOTIONS}
        share = {lab: n / len(annotators) for lab, n in counts.items() if n}
        decisions[task] = _decide(share, [given[a] for a in annotators if a in given], tie_break)
    return Aggregate("majority", decisions, _empirical_confusion(labels, annotators, decisions),
                     _prior(decisions))


def dawid_skene(labels: dict[object, dict[str, str]], annotators: list[str], tie_break: str,
                n_iter: int = 100, tol: float = 1e-5) -> Aggregate:
    """Dawid & Skene (1979) by EM, crowd-kit's implementation (majority-vote initialisation)."""
    from crowdkit.aggregation import DawidSkene

    data = _frame(labels, annotators)
    model = DawidSkene(n_iter=n_iter, tol=tol)
    with warnings.catch_warnings():   # crowd-kit 1.4.2 uses pandas keywords pandas 3 deprecates (no effect on results)
        warnings.filterwarnings("ignore", module="crowdkit")
        proba = model.fit_predict_proba(data).reindex(columns=list(EMOTIONS), fill_value=0.0)
    tasks = list(labels)
    decisions = {}
    for i, row in zip(proba.index, proba.to_numpy()):
        given = labels[tasks[i]]
        decisions[tasks[i]] = _decide(dict(zip(EMOTIONS, row)), [given[a] for a in annotators if a in given],
                                      tie_break)
    confusion = {}
    errors = model.errors_   # (worker, observed label) × true label: P(observed | true)
    for a in annotators:
        if a not in errors.index.get_level_values("worker"):
            continue
        m = errors.xs(a, level="worker").reindex(index=list(EMOTIONS), columns=list(EMOTIONS), fill_value=0.0)
        confusion[a] = m.T.round(DECIMALS)   # rows: true label, columns: what the annotator says
    prior = model.priors_.reindex(list(EMOTIONS), fill_value=0.0)
    return Aggregate("dawid_skene", decisions, confusion, {k: round(float(v), DECIMALS) for k, v in prior.items()})


def _empirical_confusion(labels, annotators, decisions) -> dict[str, pd.DataFrame]:
    """P(annotator says k | panel label c), counted over the tasks the panel labelled."""
    out = {}
    for a in annotators:
        m = pd.DataFrame(0.0, index=list(EMOTIONS), columns=list(EMOTIONS))
        for task, given in labels.items():
            d = decisions[task]
            if a in given and d.label is not None:
                m.loc[d.label, given[a]] += 1
        totals = m.sum(axis=1).replace(0, np.nan)
        out[a] = m.div(totals, axis=0).fillna(0.0).round(DECIMALS)
    return out


def _prior(decisions) -> dict[str, float]:
    labelled = [d.label for d in decisions.values() if d.label is not None]
    return {lab: round(labelled.count(lab) / len(labelled), DECIMALS) if labelled else 0.0 for lab in EMOTIONS}


def aggregate(method: str, labels: dict[object, dict[str, str]], annotators: list[str], tie_break: str) -> Aggregate:
    """`labels`: task → {annotator: label} for the tasks at least one annotator labelled, in a fixed order."""
    if method not in METHODS:
        raise ValueError(f"annotate.aggregate: unknown method {method!r} (one of {', '.join(METHODS)})")
    if not labels:
        return Aggregate(method, {}, {}, {lab: 0.0 for lab in EMOTIONS})
    if method == "majority":
        return majority(labels, annotators, tie_break)
    return dawid_skene(labels, annotators, tie_break)
