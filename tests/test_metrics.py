"""melt.metrics: the one definition of UAR / ACC / macro F1, used alike by SER and acoustics."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from melt.acoustics.validate import scores as acoustics_scores
from melt.metrics import classification_metrics
from melt.ser.evaluate import score as ser_score

# Hand-worked: reference low, low, mid; prediction low, high, mid. Over the reference's classes {low, mid}:
# recall low 1/2, mid 1/1 → UAR 0.75; F1 low 2·1·0.5/1.5 = 2/3, mid 1 → macro F1 5/6; ACC 2/3.
# scikit-learn's default label union adds `high` (F1 0) → macro F1 5/9 = 0.556 (acoustics' old number).
Y_TRUE = ["low", "low", "mid"]
Y_PRED = ["low", "high", "mid"]
HAND = {"uar": 0.75, "acc": 0.6667, "f1": 0.8333}


def test_hand_worked_example():
    assert classification_metrics(Y_TRUE, Y_PRED) == HAND
    assert round(f1_score(Y_TRUE, Y_PRED, average="macro"), 4) == 0.5556  # the label union this rule avoids
    weighted = classification_metrics(Y_TRUE, Y_PRED, weighted_f1=True)["f1_weighted"]
    assert weighted == round((2 * 2 / 3 + 1 * 1) / 3, 4)  # F1 per class weighted by reference support


def test_ser_and_acoustics_give_the_same_numbers():
    assert ser_score(Y_TRUE, Y_PRED) == HAND
    assert acoustics_scores(pd.Series(Y_TRUE), pd.Series(Y_PRED)) == HAND


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_sklearn_over_the_reference_classes(seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    classes = ["anger", "joy", "neutral", "sadness", "surprise"]
    y_true = list(rng.choice(classes[:4], 60))            # surprise never in the reference
    y_pred = list(rng.choice(classes, 60))                # but sometimes predicted
    labels = sorted(set(y_true))
    expected = {"uar": recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
                "acc": accuracy_score(y_true, y_pred),
                "f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)}
    got = classification_metrics(y_true, y_pred, digits=None)
    assert got == pytest.approx(expected, abs=1e-12)
    assert ser_score(y_true, y_pred) == acoustics_scores(pd.Series(y_true), pd.Series(y_pred))
    explicit = classification_metrics(y_true, y_pred, labels=classes, digits=None)
    assert explicit["uar"] == pytest.approx(recall_score(y_true, y_pred, labels=classes, average="macro",
                                                         zero_division=0))


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="no reference labels"):
        classification_metrics([], [])
    with pytest.raises(ValueError, match="2 reference labels but 1 predictions"):
        classification_metrics(["a", "b"], ["a"])
