"""melt.analysis.agreement on small hand-worked cases: whole result dicts (so a renamed or dropped key fails), κ and
α written out by hand, per-class precision against a pandas crosstab, α with exactly two labels, zero and one
pairable unit."""

from __future__ import annotations

import warnings
from itertools import permutations

import pandas as pd
from sklearn.metrics import cohen_kappa_score

from melt.analysis.agreement import (_round, label_counts, nominal_alpha, pair_agreement, pairwise_kappa,
                                     samples_alpha)
from melt.data.labels import EMOTIONS

NOTE = "fewer than two distinct labels among pairable units: α undefined"


def alpha_by_hand(units: list[list[str | None]]) -> float:
    """Krippendorff's nominal α from the coincidence matrix (Krippendorff 2011, 'Computing Krippendorff's alpha'):
    every ordered pair of values within a unit of m ≥ 2 values adds 1/(m-1); α = 1 - (n-1) Σ_{c≠k} o_ck /
    Σ_{c≠k} n_c n_k."""
    o: dict[tuple[str, str], float] = {}
    for unit in units:
        values = [v for v in unit if v is not None]
        if len(values) < 2:
            continue
        for i, j in permutations(range(len(values)), 2):
            o[values[i], values[j]] = o.get((values[i], values[j]), 0.0) + 1 / (len(values) - 1)
    n_c: dict[str, float] = {}
    for (c, _), v in o.items():
        n_c[c] = n_c.get(c, 0.0) + v
    n = sum(n_c.values())
    observed = sum(v for (c, k), v in o.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    return 1 - (n - 1) * observed / expected


def test_pair_agreement_whole_result_on_a_hand_worked_case():
    a = ["joy", "joy", "anger", "sadness", "joy"]
    b = ["joy", "anger", "anger", "sadness", "neutral"]
    out = pair_agreement(a, b)
    # 3 of 5 agree; chance agreement p_e = (3·1 + 1·2 + 1·1) / 25 = 0.24 (joy, anger, sadness) → κ = 0.36 / 0.76
    expected_cm = pd.crosstab(pd.Categorical(a, categories=EMOTIONS), pd.Categorical(b, categories=EMOTIONS),
                              dropna=False).to_numpy().tolist()
    per_class = {lab: {"reference": 0, "other": 0, "both": 0, "agreement": None, "precision": None} for lab in EMOTIONS}
    per_class["joy"] = {"reference": 3, "other": 1, "both": 1, "agreement": 0.3333, "precision": 1.0}
    per_class["anger"] = {"reference": 1, "other": 2, "both": 1, "agreement": 1.0, "precision": 0.5}
    per_class["sadness"] = {"reference": 1, "other": 1, "both": 1, "agreement": 1.0, "precision": 1.0}
    per_class["neutral"] = {"reference": 0, "other": 1, "both": 0, "agreement": None, "precision": 0.0}
    assert out == {"n": 5, "change_rate": 0.4, "agreement": 0.6, "kappa": round(0.36 / 0.76, 4),
                   "per_class": per_class, "confusion": {"labels": list(EMOTIONS), "matrix": expected_cm}}
    assert expected_cm[EMOTIONS.index("joy")][EMOTIONS.index("neutral")] == 1   # rows: a (reference)


def test_per_class_precision_matches_a_crosstab():
    a = ["anger", "anger", "fear", "fear", "fear", "disgust", "surprise", "neutral", "joy", "sadness", "joy"]
    b = ["anger", "fear", "fear", "fear", "anger", "disgust", "joy", "neutral", "joy", "joy", "sadness"]
    ct = pd.crosstab(pd.Series(a, name="a"), pd.Series(b, name="b"))
    out = pair_agreement(a, b)["per_class"]
    for lab in EMOTIONS:
        col = ct[lab] if lab in ct.columns else pd.Series(dtype=int)
        row = ct.loc[lab] if lab in ct.index else pd.Series(dtype=int)
        diag = int(ct.loc[lab, lab]) if lab in ct.index and lab in ct.columns else 0
        assert out[lab]["other"] == int(col.sum()) and out[lab]["reference"] == int(row.sum())
        assert out[lab]["precision"] == (round(diag / col.sum(), 4) if col.sum() else None)
        assert out[lab]["agreement"] == (round(diag / row.sum(), 4) if row.sum() else None)
    assert out["joy"]["precision"] == 0.3333 and out["fear"]["precision"] == 0.6667


def test_kappa_with_exactly_two_labels_and_with_one():
    a, b = ["joy", "joy", "anger", "anger"], ["joy", "anger", "anger", "anger"]
    # p_o = 3/4; p_e = (2·1 + 2·3) / 16 = 0.5 → κ = 0.25 / 0.5
    assert pair_agreement(a, b)["kappa"] == 0.5
    assert pair_agreement(["joy", "joy"], ["anger", "anger"])["kappa"] == 0.0   # two labels, never together
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # undefined κ is reported as null without asking sklearn (which warns)
        assert pair_agreement(["joy"] * 3, ["joy"] * 3)["kappa"] is None


def test_empty_pair_whole_result():
    assert pair_agreement([], []) == {"n": 0, "change_rate": None, "agreement": None, "kappa": None, "per_class": {},
                                      "confusion": {"labels": list(EMOTIONS), "matrix": []}}
    # one row is not "no rows"
    one = pair_agreement(["joy"], ["anger"])
    assert (one["n"], one["change_rate"], one["agreement"]) == (1, 1.0, 0.0)


def test_nominal_alpha_units_unanimous_share_and_alpha_by_hand():
    units = [["joy", "joy", None], ["joy", "anger", "anger"], ["sadness", None, None], ["anger", "anger", "anger"],
             [None, "joy", "joy"]]
    # pairable: the 4 units with ≥ 2 values; unanimous among them: 1st, 4th, 5th
    # o_jj = 4, o_ja = o_aj = 1 (2 · 1/2), o_aa = 4; n_joy = n_anger = 5, n = 10 → α = 1 - 9·2 / (5·5·2)
    assert alpha_by_hand(units) == 1 - 9 * 2 / (5 * 5 * 2)
    assert nominal_alpha(units) == {"units": 4, "alpha": 0.64, "unanimous_share": 0.75}
    assert samples_alpha(units) == {"samples": 3, "units": 4, "alpha": 0.64, "unanimous_share": 0.75}


def test_alpha_with_exactly_two_labels_against_the_hand_computation():
    units = [["joy", "anger"], ["joy", "joy"], ["anger", "anger"], ["anger", "joy"], ["joy", "joy"]]
    expected = round(alpha_by_hand(units), 4)
    assert expected == round(1 - 9 * 4 / (6 * 4 * 2), 4)   # n_joy 6, n_anger 4, o_ja = o_aj = 2
    assert nominal_alpha(units) == {"units": 5, "alpha": expected, "unanimous_share": 0.6}


def test_alpha_with_three_coders_some_missing_against_the_hand_computation():
    units = [["joy", "joy", "joy"], ["anger", "anger", None], ["sadness", "joy", "sadness"], [None, "fear", "fear"],
             ["neutral", None, "neutral"], ["joy", "anger", None]]
    assert nominal_alpha(units) == {"units": 6, "alpha": round(alpha_by_hand(units), 4),
                                    "unanimous_share": round(4 / 6, 4)}


def test_zero_and_one_pairable_unit():
    # no unit has two values: α undefined, and the count says why
    assert nominal_alpha([["joy", None], [None, "anger"]]) == {"units": 0, "alpha": None, "note": NOTE}
    # exactly one pairable unit with two labels: α is defined (0: the only pair disagrees, as chance predicts)
    one = [["joy", "anger"], ["sadness", None]]
    assert nominal_alpha(one) == {"units": 1, "alpha": round(alpha_by_hand(one), 4), "unanimous_share": 0.0}
    assert alpha_by_hand(one) == 0.0   # n = 2: 1 - 1·2 / (1·1·2)
    # one pairable unit, one label: undefined
    assert nominal_alpha([["joy", "joy"], ["joy", None]]) == {"units": 1, "alpha": None, "note": NOTE}
    assert nominal_alpha([]) == {"units": 0, "alpha": None, "note": NOTE}
    assert nominal_alpha([["joy"], ["anger"]]) == {"units": 0, "alpha": None, "note": NOTE}


def test_samples_alpha_needs_two_samples():
    note = "one sample per utterance: no agreement to measure"
    assert samples_alpha([]) == {"samples": 0, "alpha": None, "note": note}
    assert samples_alpha([["joy"], ["anger"]]) == {"samples": 1, "alpha": None, "note": note}
    two = [["joy", "anger"], ["joy", "joy"], ["anger", "anger"]]
    assert samples_alpha(two) == {"samples": 2, "units": 3, "alpha": round(alpha_by_hand(two), 4),
                                  "unanimous_share": 0.6667}


def test_pairwise_kappa_every_pair_once_on_units_both_labelled():
    labels = {"x": ["joy", "joy", None, "anger", "sadness", "joy"],
              "y": ["joy", "anger", "anger", "anger", None, "joy"],
              "z": [None, "joy", "joy", "anger", "sadness", "sadness"]}
    out = pairwise_kappa(labels)
    expected = []
    for a, b in (("x", "y"), ("x", "z"), ("y", "z")):
        both = [(p, q) for p, q in zip(labels[a], labels[b]) if p is not None and q is not None]
        pa, pb = [p for p, _ in both], [q for _, q in both]
        agree = sum(p == q for p, q in both) / len(both)
        expected.append({"a": a, "b": b, "n": len(both), "agreement": round(agree, 4),
                         "kappa": round(cohen_kappa_score(pa, pb), 4)})
    assert out == expected
    assert [e["n"] for e in expected] == [4, 4, 4]


def test_label_counts_and_rounding():
    assert label_counts(["joy", "joy", "fear"], ["joy", "anger", "anger"]) == {
        lab: {"meld": {"joy": 2, "fear": 1}.get(lab, 0), "melt": {"joy": 1, "anger": 2}.get(lab, 0)}
        for lab in EMOTIONS}
    assert _round(None) is None and _round(float("nan")) is None and _round(float("inf")) is None
    assert _round(0.123456) == 0.1235 and _round(0.123456, 2) == 0.12 and _round(2) == 2.0
