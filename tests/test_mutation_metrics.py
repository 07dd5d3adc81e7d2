"""melt.metrics on hand-worked cases (fractions written out): the reference-classes convention, a label absent
from both truth and prediction, weighted F1, rounding, and CMU-MOSI's binary scores."""

from __future__ import annotations

import warnings

import pytest

from melt.metrics import classification_metrics, mosi_binary, reference_classes


def test_reference_classes_sorted_unique():
    assert reference_classes(["joy", "anger", "joy", "fear"]) == ["anger", "fear", "joy"]


def test_macro_scores_average_over_the_reference_classes():
    # a predicted class the reference lacks ("c") is an error, not a scored class:
    # recall a = 1/2, b = 2/2; precision a = 1/1, b = 2/2 → F1 a = 2/3, b = 1
    scores = classification_metrics(["a", "a", "b", "b"], ["a", "c", "b", "b"], digits=None)
    assert scores == {"uar": pytest.approx(0.75), "acc": pytest.approx(0.75),
                      "f1": pytest.approx((2 / 3 + 1) / 2)}


def test_macro_f1_with_a_label_absent_from_both_truth_and_prediction():
    truth, pred = ["a", "a", "b"], ["a", "b", "b"]
    # F1 a = 2·1·(1/2) / (1 + 1/2) = 2/3, F1 b = 2·(1/2)·1 / (3/2) = 2/3; "c" (in neither) scores 0 when listed
    assert classification_metrics(truth, pred, labels=["a", "b", "c"], digits=None) == {
        "uar": pytest.approx((1 / 2 + 1 + 0) / 3), "acc": pytest.approx(2 / 3), "f1": pytest.approx(4 / 9)}
    assert classification_metrics(truth, pred, digits=None) == {
        "uar": pytest.approx(3 / 4), "acc": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3)}


def test_weighted_f1_weighs_by_reference_support_and_rounding():
    truth = ["a", "a", "a", "b"]
    pred = ["a", "a", "b", "b"]
    # F1 a = 2·1·(2/3) / (5/3) = 0.8 (support 3), F1 b = 2·(1/2)·1 / (3/2) = 2/3 (support 1)
    weighted = (3 * 0.8 + 1 * 2 / 3) / 4
    assert classification_metrics(truth, pred, weighted_f1=True) == {
        "uar": round((2 / 3 + 1) / 2, 4), "acc": 0.75, "f1": round((0.8 + 2 / 3) / 2, 4),
        "f1_weighted": round(weighted, 4)}
    assert classification_metrics(truth, pred, digits=2) == {"uar": 0.83, "acc": 0.75, "f1": 0.73}
    exact = classification_metrics(truth, pred, weighted_f1=True, digits=None)
    assert exact["f1_weighted"] == pytest.approx(weighted, abs=1e-15) and exact["uar"] != round(exact["uar"], 4)
    assert all(type(v) is float for v in exact.values())
    assert "f1_weighted" not in classification_metrics(truth, pred)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="^no reference labels to score$"):
        classification_metrics([], [])
    with pytest.raises(ValueError, match="^2 reference labels but 3 predictions$"):
        classification_metrics(["a", "b"], ["a", "b", "a"])


def test_mosi_binary_hand_worked():
    ratings = [2.0, -1.4, 0.0, 0.6, -3.0]
    predicted = [True, True, False, False, False]
    # has0: truth + - + + - (0 counts positive), guess + + - - -: 2 of 5 right
    #   F1 positive: P 1/2, R 1/3 → 0.4 (support 3); F1 negative: P 1/3, R 1/2 → 0.4 (support 2) → weighted 0.4
    # non0: rating 0 left out: truth + - + -, guess + + - -: 2 of 4; F1 both 0.5
    assert mosi_binary(ratings, predicted) == {"acc2_has0": 0.4, "f1_has0": 0.4, "acc2_non0": 0.5, "f1_non0": 0.5}
    unrounded = mosi_binary([1.0, 1.0, -1.0], [True, False, False], digits=None)
    # F1 positive: P 1, R 1/2 → 2/3 (support 2); negative: P 1/2, R 1 → 2/3 (support 1)
    assert unrounded == {"acc2_has0": pytest.approx(2 / 3, abs=1e-15), "f1_has0": pytest.approx(2 / 3, abs=1e-15),
                         "acc2_non0": pytest.approx(2 / 3, abs=1e-15), "f1_non0": pytest.approx(2 / 3, abs=1e-15)}
    assert unrounded["acc2_has0"] != round(unrounded["acc2_has0"], 4)


def test_mosi_binary_all_zero_ratings_and_length_mismatch():
    # has0: both count as positive (the only reference class): F1 positive = 2·1·(1/2) / (3/2) = 2/3
    assert mosi_binary([0.0, 0.0], [True, False]) == {"acc2_has0": 0.5, "f1_has0": 0.6667,
                                                      "acc2_non0": None, "f1_non0": None}
    with pytest.raises(ValueError, match="^2 ratings but 1 predictions$"):
        mosi_binary([1.0, -1.0], [True])


def test_an_undefined_class_score_is_zero_without_a_warning():
    # "c" (listed, in neither labeling) has recall 0/0, precision 0/0: scored 0, silently (zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = classification_metrics(["a", "b"], ["a", "a"], labels=["a", "b", "c"], weighted_f1=True, digits=None)
    # recall a 1, b 0, c 0; F1 a = 2·(1/2)·1 / (3/2) = 2/3, b 0, c 0; weighted over supports a 1, b 1, c 0
    assert scores == {"uar": pytest.approx(1 / 3), "acc": 0.5, "f1": pytest.approx(2 / 9),
                      "f1_weighted": pytest.approx(1 / 3)}


def test_weighted_f1_over_explicit_labels():
    # only "a" scored: F1 a = 2/3 (P 1/2, R 1), weight 1 → 2/3; over both classes it would be (2/3 + 0) / 2
    scores = classification_metrics(["a", "b"], ["a", "a"], labels=["a"], weighted_f1=True, digits=None)
    assert scores["f1_weighted"] == pytest.approx(2 / 3) and scores["f1"] == pytest.approx(2 / 3)
