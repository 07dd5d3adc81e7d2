"""melt.study.report on a study whose answers the test chooses one by one (real StudyStore, real study set), every
number written out by hand: participants.csv (preference answers, a participant with none, attention and play
counts), items.csv (`melt_preferred` only for counted answers), summary.json (`by_emotion`, attention counts, play
time) and an emotion with exactly one answer."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap

from melt.study.catalog import load_catalog
from melt.study.params import StudyParams
from melt.study.report import cluster_bootstrap, run, share, study_report
from melt.study.store import StoreError, StudyStore
from study_helpers import build_study, wilson_by_hand

LABELS = ("anger", "disgust", "sadness", "joy", "neutral", "surprise", "fear")


def _answer(store, pid, question, source, played=1.0, min_play=None, play_check="refuse"):
    choice = question["option_a"] if question["source_a"] == source else question["option_b"]
    return store.record_answer(pid, question["item_id"], choice, played, min_play, play_check)


def make_study(root):
    """Four participants (max_attention_failures 0), every one shown all 14 preference items and 1 attention item:
    A: attention right; joy 1 and joy 2 → MELT, anger 1 → MELD, anger 2 → MELT, sadness 1 → MELT played too short
       (flagged, left out)
    B: attention wrong (excluded); joy 1 → MELT
    C: attention right; no preference answer
    D: attention right; fear 1 → MELD (fear's only counted answer); disgust 1 played too short (refused)"""
    build_study(root, StudyParams(per_label=2, attention_items=1))
    store = StudyStore(root / "s.db")
    catalog = load_catalog(root / "data" / "study", root, store.secret)
    people = {}
    for name, gender in (("A", "female"), ("B", "male"), ("C", None), ("D", "female")):
        pid, _ = store.create_participant({"gender": gender}, catalog.preference, catalog.attention, 14, 1)
        people[name] = pid
        qs = store.questions(pid)
        pref = sorted((q for q in qs if q["kind"] == "preference"), key=lambda q: (q["dialogue_id"], q["utterance_id"],
                                                                                    q["split"]))
        by = {}
        for q in pref:
            by.setdefault(q["meld_label"], []).append(q)
        assert sorted(by) == sorted(LABELS) and all(len(v) == 2 for v in by.values())
        (att,) = [q for q in qs if q["kind"] == "attention"]
        _answer(store, pid, att, "wrong" if name == "B" else "correct")
        if name == "A":
            for q, src in ((by["joy"][0], "melt"), (by["joy"][1], "melt"), (by["anger"][0], "meld"),
                           (by["anger"][1], "melt")):
                _answer(store, pid, q, src)
            _answer(store, pid, by["sadness"][0], "melt", played=0.1, min_play=0.3, play_check="flag")
        elif name == "B":
            _answer(store, pid, by["joy"][0], "melt")
        elif name == "D":
            _answer(store, pid, by["fear"][0], "meld")
            with pytest.raises(StoreError):
                _answer(store, pid, by["disgust"][0], "melt", played=0.1, min_play=0.3)
        people[name + "_items"] = by
    run(store, LABELS, 0, root / "metrics.json", root / "reports")   # run's defaults: 2000 resamples, seed 0
    return store, people


def test_report_files_by_hand(tmp_path):
    """One study, built once (mutmut maps a test to the functions it runs: a shared fixture would hide them)."""
    store, people = make_study(tmp_path)
    study = (tmp_path, people)
    check_headline_metrics(study)
    check_summary(study)
    check_participants_csv(study)
    check_items_csv(study)
    check_preference_csv(study)
    check_defaults_and_bootstrap_streams(store, tmp_path, people)


def scipy_interval(a_first: bool, stream: str, seed: int, resamples: int) -> tuple:
    """The overall interval of the study (A: 3 of 4, D: 0 of 1; the report orders participants by their random id)
    by scipy's paired bootstrap on the generator the report seeds for `stream`."""
    k, n = (np.array([3, 0]), np.array([4, 1])) if a_first else (np.array([0, 3]), np.array([1, 4]))
    res = bootstrap((k, n), lambda k, n, axis: k.sum(axis) / n.sum(axis), paired=True,
                    vectorized=True, n_resamples=resamples, method="percentile",
                    rng=np.random.default_rng([seed, zlib.crc32(stream.encode())]))
    return round(float(res.confidence_interval.low), 4), round(float(res.confidence_interval.high), 4)


def check_defaults_and_bootstrap_streams(store, root, people):
    # study_report's own defaults: 2000 resamples, seed 0
    assert study_report(store, LABELS, 0)["summary"]["interval"] == (
        "ci_low/ci_high: participant-level cluster bootstrap, percentile 95 %, 2000 resamples, seed 0 (null below 2 "
        "participants); wilson_low/wilson_high: Wilson score 95 %, answers treated as independent")
    # with 7 resamples the interval depends on the draws: seed 1 and the "overall" stream give their own
    a_first = people["A"] < people["D"]
    expected = scipy_interval(a_first, "overall", 1, 7)
    assert expected != scipy_interval(a_first, "overall", 0, 7)
    assert expected != scipy_interval(a_first, "emotion/joy", 1, 7)
    metrics = run(store, LABELS, 0, root / "m7.json", root / "r7", bootstrap_resamples=7, bootstrap_seed=1)
    assert (metrics["overall"]["ci_low"], metrics["overall"]["ci_high"]) == expected
    # a participant who answered nothing yet: zeros, not missing values
    catalog = load_catalog(root / "data" / "study", root, store.secret)
    late, _ = store.create_participant({}, catalog.preference, catalog.attention, 2, 1)
    table = study_report(store, LABELS, 0, bootstrap_resamples=10)["participants"].set_index("participant_id")
    assert table.loc[late, ["preference_answers", "attention_answered", "attention_failed", "short_play_flagged",
                             "short_play_refused", "questions", "answers"]].tolist() == [0, 0, 0, 0, 0, 3, 0]
    assert not table.loc[late, "excluded"]


def check_headline_metrics(study):
    root, _ = study
    metrics = json.loads((root / "metrics.json").read_text())
    # counted: A joy ✓ ✓, anger ✗ ✓; D fear ✗ → 3 of 5 from 2 participants (A 3/4, D 0/1). Resampling the two:
    # both A → 0.75, both D → 0, one each → 0.6; P(both D) = 1/4, so the 2.5 % and 97.5 % points are 0 and 0.75.
    assert metrics == {
        "overall": {"prefer_melt": 0.6, "ci_low": 0.0, "ci_high": 0.75, "answers": 5, "participants": 2,
                    "attention_failures": 1},
        "by_emotion": {"anger": {"prefer_melt": 0.5, "ci_low": None, "ci_high": None, "answers": 2},
                       "joy": {"prefer_melt": 1.0, "ci_low": None, "ci_high": None, "answers": 2},
                       "fear": {"prefer_melt": 0.0, "ci_low": None, "ci_high": None, "answers": 1}}}


def check_summary(study):
    root, people = study
    summary = json.loads((root / "reports" / "summary.json").read_text())
    wl = {k: tuple(round(x, 4) for x in wilson_by_hand(*kn)) for k, kn in
          {"anger": (1, 2), "joy": (2, 2), "fear": (0, 1), "overall": (3, 5)}.items()}
    empty = {"prefer_melt": None, "ci_low": None, "ci_high": None, "wilson_low": None, "wilson_high": None,
             "answers": 0, "melt_preferred": 0, "participants": 0}
    by_emotion = {label: dict(empty) for label in LABELS}
    by_emotion["anger"] = {"prefer_melt": 0.5, "ci_low": None, "ci_high": None, "wilson_low": wl["anger"][0],
                           "wilson_high": wl["anger"][1], "answers": 2, "melt_preferred": 1, "participants": 1}
    by_emotion["joy"] = {"prefer_melt": 1.0, "ci_low": None, "ci_high": None, "wilson_low": wl["joy"][0],
                         "wilson_high": wl["joy"][1], "answers": 2, "melt_preferred": 2, "participants": 1}
    by_emotion["fear"] = {"prefer_melt": 0.0, "ci_low": None, "ci_high": None, "wilson_low": wl["fear"][0],
                          "wilson_high": wl["fear"][1], "answers": 1, "melt_preferred": 0, "participants": 1}
    assert summary["by_emotion"] == by_emotion
    assert list(summary["by_emotion"]) == list(LABELS)
    assert summary["overall"] == {"prefer_melt": 0.6, "ci_low": 0.0, "ci_high": 0.75, "wilson_low": wl["overall"][0],
                                  "wilson_high": wl["overall"][1], "answers": 5, "melt_preferred": 3,
                                  "participants": 2, "attention_failures": 1}
    assert summary["emotions_outside_labels"] == []
    assert summary["participants"] == {"started": 4, "completed": 0, "excluded_attention": 1, "counted": 2}
    assert summary["attention_checks"] == {"answered": 4, "failed": 1, "max_failures_allowed": 0}
    assert summary["excluded_participants"] == [{"participant_id": people["B"], "reason": "attention checks failed",
                                                 "attention_failed": 1}]
    assert summary["play_time"] == {"short_play_answers_flagged": 1, "preference_answers_left_out": 1,
                                    "short_play_answers_refused": 1, "participants_refused": 1}
    # demographics of A, C, D (B excluded); C gave no gender
    assert summary["demographics_of_counted_participants"]["gender"] == {"female": 2, "not given": 1}
    assert summary["interval"].startswith("ci_low/ci_high: participant-level cluster bootstrap, percentile 95 %, "
                                          "2000 resamples, seed 0")


def check_participants_csv(study):
    root, people = study
    table = pd.read_csv(root / "reports" / "participants.csv").set_index("participant_id")
    expected = {  # preference answers (flagged included, refused not), attention, play counts, answers, excluded
        "A": (5, 1, 0, False, 1, 0, 6), "B": (1, 1, 1, True, 0, 0, 2), "C": (0, 1, 0, False, 0, 0, 1),
        "D": (1, 1, 0, False, 0, 1, 2)}
    cols = ["preference_answers", "attention_answered", "attention_failed", "excluded", "short_play_flagged",
            "short_play_refused", "answers"]
    for name, row in expected.items():
        assert tuple(table.loc[people[name], cols]) == row, name
        assert table.loc[people[name], "questions"] == 15
    assert list(table.columns[:4]) == ["created_at", "completed_at", "gender", "age_range"]
    for col in ("preference_answers", "attention_answered", "attention_failed", "short_play_flagged",
                "short_play_refused", "questions", "answers"):
        assert table[col].dtype == "int64", col


def check_items_csv(study):
    root, people = study
    items = pd.read_csv(root / "reports" / "items.csv")
    got = {(r["meld_label"], int(r["dialogue_id"]), int(r["utterance_id"])):
           (r["answers"], r["melt_preferred"], r["excluded_answers"], r["short_play"]) for r in items.to_dict("records")}
    by = people["A_items"]

    def key(q):
        return (q["meld_label"], q["dialogue_id"], q["utterance_id"])

    assert got == {key(by["joy"][0]): (1, 1, 1, 0),       # A's MELT counted; B's MELT excluded, not preferred
                   key(by["joy"][1]): (1, 1, 0, 0),
                   key(by["anger"][0]): (1, 0, 0, 0),      # A chose MELD
                   key(by["anger"][1]): (1, 1, 0, 0),
                   key(by["sadness"][0]): (0, 0, 0, 1),    # flagged short play: not counted, not preferred
                   key(by["fear"][0]): (1, 0, 0, 0)}
    # sorted by MELD label, then key
    assert list(items["meld_label"]) == ["anger", "anger", "fear", "joy", "joy", "sadness"]
    assert list(items.columns) == ["split", "dialogue_id", "utterance_id", "meld_label", "melt_label", "answers",
                                   "melt_preferred", "excluded_answers", "short_play"]


def check_preference_csv(study):
    root, _ = study
    chart = pd.read_csv(root / "reports" / "preference.csv")
    assert list(chart["emotion"]) == ["anger", "joy", "fear"]
    assert list(chart["answers"]) == [2, 2, 1] and list(chart["melt_preferred"]) == [1, 2, 0]


def test_share_and_cluster_bootstrap_edges():
    assert share(0, 0) == {"prefer_melt": None, "ci_low": None, "ci_high": None, "answers": 0}
    lo, hi = wilson_by_hand(1, 3)
    assert share(1, 3) == {"prefer_melt": 0.3333, "ci_low": round(lo, 4), "ci_high": round(hi, 4), "answers": 3}
    assert cluster_bootstrap([3], [4], 100, 0, "overall") == (None, None)
    # every participant alike: every resample gives the same share
    assert cluster_bootstrap([1, 1, 1], [2, 2, 2], 50, 0, "overall") == (0.5, 0.5)
    # two participants 1/1 and 0/1: resampled shares are 0, 0.5, 1 with P(0) = P(1) = 1/4
    assert cluster_bootstrap([1, 0], [1, 1], 4000, 7, "emotion/joy") == (0.0, 1.0)
    assert cluster_bootstrap([2, 0], [3, 1], 4000, 7, "x") == (0.0, round(2 / 3, 4))
