"""The project's one definition of classification scores: UAR, ACC, macro and weighted F1 (SER, acoustics, text
pre-training, ERC), and CMU-MOSI's binary sentiment scores (text pre-training, ERC).

**Convention: macro averages (UAR, macro F1) are over the classes present in the reference** (`y_true`), for every
caller. A class the reference never contains has no recall (0/0) and an F1 of 0 whatever the model does, so
counting it would lower UAR and macro F1 by an amount that depends only on which classes happen to be missing
from the test set (averaging over a model's full label set), or on which wrong classes a model happens to predict
(scikit-learn's default, the union of reference and predictions). Predictions of such a class are still errors:
they lower the recall of the true class, and ACC. Weighted F1 weighs each class by its reference support, so it
is the same under every convention. `labels` scores another, explicit class set where a caller must (e.g. one
fixed set shared by several test sets); no caller in the pipeline passes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, f1_score, recall_score


def reference_classes(y_true: Sequence[str]) -> list[str]:
    """The default scored classes: those present in the reference, sorted."""
    return sorted(set(y_true))


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None,
                           weighted_f1: bool = False, digits: int | None = 4) -> dict[str, float]:
    """UAR (unweighted average recall = macro recall), ACC (accuracy over all rows) and macro F1.

    labels: the classes UAR and F1 average over; default `reference_classes(y_true)` (see the module
        docstring for why). ACC always counts every row.
    weighted_f1: also return `f1_weighted` (F1 per class weighted by its reference support).
    digits: rounding of the returned values (None: unrounded), so that metric files stay stable.
    """
    y_true, y_pred = list(y_true), list(y_pred)
    if not y_true:
        raise ValueError("no reference labels to score")
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} reference labels but {len(y_pred)} predictions")
    labels = list(labels) if labels is not None else reference_classes(y_true)
    scores = {"uar": recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
              "acc": accuracy_score(y_true, y_pred),
              "f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)}
    if weighted_f1:
        scores["f1_weighted"] = f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    return {k: float(v) if digits is None else round(float(v), digits) for k, v in scores.items()}


def mosi_binary(ratings: Sequence[float], predicted_positive: Sequence[bool], digits: int | None = 4) -> dict:
    """CMU-MOSI's binary sentiment as the literature reports it, from the sentiment ratings in [-3, 3] and a
    positive/negative decision per segment: binary accuracy (`acc2_*`) and weighted F1 (`f1_*`) under

    - `has0`: every segment, a rating ≥ 0 counts as positive;
    - `non0`: segments rated exactly 0 left out (the sign decides); None when every segment is rated 0.
    """
    ratings, predicted = [float(r) for r in ratings], [bool(p) for p in predicted_positive]
    if len(ratings) != len(predicted):
        raise ValueError(f"{len(ratings)} ratings but {len(predicted)} predictions")
    word = {True: "positive", False: "negative"}
    out = {}
    for name, keep in (("has0", [True] * len(ratings)), ("non0", [r != 0 for r in ratings])):
        truth = [word[r >= 0] for r, k in zip(ratings, keep) if k]
        guess = [word[p] for p, k in zip(predicted, keep) if k]
        s = classification_metrics(truth, guess, weighted_f1=True, digits=digits) if truth else None
        out[f"acc2_{name}"] = s["acc"] if s else None
        out[f"f1_{name}"] = s["f1_weighted"] if s else None
    return out
