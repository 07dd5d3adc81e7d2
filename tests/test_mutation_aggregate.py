"""melt.analysis.aggregate on hand-worked panels: majority shares, the empirical confusion and prior counted by hand,
the tie rules, the empty and unknown-method cases, and Dawid–Skene's outputs where the answer is known without
EM (a panel that always agrees: posteriors one-hot, prior = label shares, confusion = identity on the labels seen)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from melt.analysis.aggregate import Aggregate, Decision, _decide, aggregate
from melt.data.labels import EMOTIONS

PANEL = ["a", "b", "c"]
LABELS = {  # task → annotator → label
    "t1": {"a": "joy", "b": "joy", "c": "anger"},
    "t2": {"a": "sadness", "b": "sadness", "c": "sadness"},
    "t3": {"a": "fear", "c": "anger"},              # b gave none: 1/3 each, tied
    "t4": {"b": "joy"},
}


def test_majority_decisions_confusion_and_prior_by_hand():
    agg = aggregate("majority", LABELS, PANEL, "first_sample")
    assert agg.method == "majority"
    assert agg.decisions == {
        "t1": Decision("joy", round(2 / 3, 6), False, {"anger": round(1 / 3, 6), "joy": round(2 / 3, 6)}),
        "t2": Decision("sadness", 1.0, False, {"sadness": 1.0}),
        "t3": Decision("fear", round(1 / 3, 6), True, {"fear": round(1 / 3, 6), "anger": round(1 / 3, 6)}),
        "t4": Decision("joy", round(1 / 3, 6), False, {"joy": round(1 / 3, 6)})}
    # panel labels: joy, sadness, fear, joy → prior joy 1/2, sadness 1/4, fear 1/4
    assert agg.prior == {lab: {"joy": 0.5, "sadness": 0.25, "fear": 0.25}.get(lab, 0.0) for lab in EMOTIONS}
    # c: on joy tasks said anger (t1), on sadness said sadness, on fear said anger → rows normalised per panel label
    expected_c = pd.DataFrame(0.0, index=list(EMOTIONS), columns=list(EMOTIONS))
    expected_c.loc["joy", "anger"] = 1.0
    expected_c.loc["sadness", "sadness"] = 1.0
    expected_c.loc["fear", "anger"] = 1.0
    pd.testing.assert_frame_equal(agg.confusion["c"], expected_c)
    # b: joy tasks t1, t4 → joy twice (1.0); sadness → sadness
    expected_b = pd.DataFrame(0.0, index=list(EMOTIONS), columns=list(EMOTIONS))
    expected_b.loc["joy", "joy"] = 1.0
    expected_b.loc["sadness", "sadness"] = 1.0
    pd.testing.assert_frame_equal(agg.confusion["b"], expected_b)
    assert set(agg.confusion) == set(PANEL)


def test_empirical_confusion_shares_within_a_row():
    labels = {i: {"a": "joy", "b": "joy", "c": lab} for i, lab in enumerate(["joy", "anger", "anger", "fear"])}
    agg = aggregate("majority", labels, PANEL, "label_order")
    row = agg.confusion["c"].loc["joy"]
    assert row.to_dict() == {lab: {"joy": 0.25, "anger": 0.5, "fear": 0.25}.get(lab, 0.0) for lab in EMOTIONS}
    assert agg.confusion["c"].drop(index="joy").to_numpy().sum() == 0.0   # rows of labels never decided stay 0


def test_tie_rules():
    tied = {"t": {"a": "fear", "b": "anger"}}   # 1/2 each; EMOTIONS order puts anger first
    assert aggregate("majority", tied, ["a", "b"], "first_sample").decisions["t"].label == "fear"
    assert aggregate("majority", tied, ["a", "b"], "label_order").decisions["t"].label == "anger"
    excluded = aggregate("majority", tied, ["a", "b"], "exclude")
    assert excluded.decisions["t"] == Decision(None, 0.5, True, {"anger": 0.5, "fear": 0.5})
    assert excluded.prior == {lab: 0.0 for lab in EMOTIONS}   # nothing labelled
    assert excluded.confusion["a"].to_numpy().sum() == 0.0
    # first_sample when no given label is among the tied ones (possible under Dawid–Skene): label order decides
    assert _decide({"joy": 0.4, "anger": 0.4, "fear": 0.2}, ["fear"], "first_sample").label == "anger"
    assert _decide({"joy": 0.4, "sadness": 0.4}, ["fear", "joy"], "first_sample").label == "joy"
    # rounding to 6 decimals makes near-equal posteriors a tie
    near = _decide({"joy": 0.5000001, "anger": 0.4999999}, [], "label_order")
    assert near == Decision("anger", 0.5, True, {"anger": 0.5, "joy": 0.5})


def test_empty_and_unknown_method():
    for method in ("majority", "dawid_skene"):
        assert aggregate(method, {}, PANEL, "exclude") == Aggregate(method, {}, {}, {lab: 0.0 for lab in EMOTIONS})
    with pytest.raises(ValueError) as err:
        aggregate("vote", LABELS, PANEL, "exclude")
    assert str(err.value) == "annotate.aggregate: unknown method 'vote' (one of dawid_skene, majority)"


def test_dawid_skene_on_a_panel_that_always_agrees():
    tasks = ["joy", "joy", "anger", "sadness", "joy", "anger"]
    labels = {f"t{i}": {"a": lab, "b": lab} for i, lab in enumerate(tasks)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # crowd-kit's pandas deprecation warnings stay silenced
        agg = aggregate("dawid_skene", labels, ["ghost", "a", "b"], "first_sample")
    assert agg.method == "dawid_skene"
    assert {t: d.label for t, d in agg.decisions.items()} == {f"t{i}": lab for i, lab in enumerate(tasks)}
    assert all(d.confidence == 1.0 and not d.tied for d in agg.decisions.values())
    # prior = label shares, rounded to 6 decimals; labels nobody used get 0
    assert agg.prior == {lab: round({"joy": 3 / 6, "anger": 2 / 6, "sadness": 1 / 6}.get(lab, 0.0), 6)
                         for lab in EMOTIONS}
    # an annotator of the panel who labelled nothing has no estimate; the others are still estimated
    assert set(agg.confusion) == {"a", "b"}
    expected = pd.DataFrame(0.0, index=list(EMOTIONS), columns=list(EMOTIONS))
    for lab in ("joy", "anger", "sadness"):
        expected.loc[lab, lab] = 1.0
    for name in ("a", "b"):
        pd.testing.assert_frame_equal(agg.confusion[name], expected, check_names=False)


def test_dawid_skene_first_sample_ties_follow_panel_order():
    # one task, two annotators that disagree, nothing else to learn from: DS posteriors tie at 1/2
    labels = {"t": {"b": "fear", "a": "joy"}}
    assert aggregate("dawid_skene", labels, ["a", "b"], "first_sample").decisions["t"].label == "joy"
    assert aggregate("dawid_skene", labels, ["b", "a"], "first_sample").decisions["t"].label == "fear"
    assert aggregate("dawid_skene", labels, ["a", "b"], "exclude").decisions["t"].label is None
