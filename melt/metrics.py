"""The project's one definition of classification scores: UAR, ACC and macro F1 (SER, acoustics, ...).

Over which classes: by default the classes **present in the reference** (`y_true`). A class the reference
never contains has no recall (0/0) and an F1 of 0 whatever the model does, so counting it would lower UAR and
macro F1 by an amount that depends only on which classes happen to be missing from the test set (or, with
scikit-learn's default label union, on which wrong classes a model happens to predict). Predictions of such
a class are still errors: they lower the recall of the true class, and ACC. Pass `labels` to score another,
explicit class set (e.g. a fixed set shared by several test sets).
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
