"""UAR (macro recall), accuracy and macro F1, over the classes present in the reference labels."""

from __future__ import annotations

from sklearn.metrics import accuracy_score, f1_score, recall_score


def classification_metrics(y_true: list[str], y_pred: list[str]) -> dict[str, float]:
    if not y_true:
        raise ValueError("no reference labels to score")
    labels = sorted(set(y_true))
    return {"uar": round(float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4),
            "acc": round(float(accuracy_score(y_true, y_pred)), 4),
            "f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4)}
