"""melt.metrics: the one definition of UAR / ACC / macro F1 (SER, acoustics, text pre-training, ERC) and of
CMU-MOSI's binary scores (text pre-training, ERC)."""

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


def test_one_macro_f1_where_the_conventions_differ():
    """`positive` is predicted but never in the reference: averaging over the full label set (pretrain_text's old
    rule) gives 4/9 (F1 positive 0), over the reference classes 2/3. Every caller — SER, acoustics, text
    pre-training — now reports the reference-classes value, computed here with scikit-learn."""
    from melt.pretrain.pretrain_text import chance, scores

    labels = ["negative", "neutral", "positive"]
    y_true = ["negative", "negative", "neutral", "neutral"]
    y_pred = ["negative", "positive", "neutral", "positive"]
    reference = f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0)
    full_set = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert round(reference, 4) == round((2 / 3 + 2 / 3) / 2, 4) and round(full_set, 4) == round(4 / 9, 4)
    assert scores(y_true, y_pred, labels)["macro_f1"] == classification_metrics(y_true, y_pred)["f1"] == round(
        reference, 4)
    assert ser_score(y_true, y_pred)["f1"] == round(reference, 4)
    assert acoustics_scores(pd.Series(y_true), pd.Series(y_pred))["f1"] == round(reference, 4)
    # the per-class table still lists the whole label set (positive: support 0, F1 0)
    assert scores(y_true, y_pred, labels)["per_class"]["positive"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                                                       "support": 0}
    # chance: always `negative` → F1 2/3 for negative, 0 for neutral; positive is not in the reference
    assert chance(y_true, labels)["majority_macro_f1"] == round((2 / 3 + 0) / 2, 4)


def test_one_mosi_scoring_function():
    """Hand-worked has-0 / non-0, and both callers (text pre-training, ERC) go through melt.metrics.mosi_binary."""
    import numpy as np

    from melt.erc.evaluate import score as erc_score
    from melt.metrics import mosi_binary
    from melt.pretrain import pretrain_text

    # ratings 2, 0, -1, -0.4, 1.2, -3; predicted positive: yes, no, no, yes, yes, no
    ratings = [2.0, 0.0, -1.0, -0.4, 1.2, -3.0]
    positive = [True, False, False, True, True, False]
    # has-0 truth P P N N P N vs P N N P P N: 4 of 6; positive P=2/3 R=2/3, negative P=2/3 R=2/3 → weighted F1 2/3
    # non-0 drops the 0: truth P N N P N vs P N P P N: 4 of 5; F1 positive 0.8, negative 0.8
    assert mosi_binary(ratings, positive) == {"acc2_has0": round(4 / 6, 4), "f1_has0": round(2 / 3, 4),
                                              "acc2_non0": 0.8, "f1_non0": 0.8}
    words = ["positive" if p else "negative" for p in positive]
    truth = ["positive" if r >= 0 else "negative" for r in ratings]
    assert erc_score("cmumosi", truth, words, np.array(ratings)) == mosi_binary(ratings, positive)
    assert pretrain_text.mosi_binary is mosi_binary
    assert mosi_binary([0.0, 0.0], [True, False])["acc2_non0"] is None    # no non-0 segment: no non-0 score
    with pytest.raises(ValueError, match="2 ratings but 1 predictions"):
        mosi_binary([1.0, -1.0], [True])
