"""The panel's aggregation in `derive` (issue 15 §3): Dawid–Skene against a hand-worked EM step and a case where it
must beat the majority, majority and its tie rules, the panel columns recomputed with pandas, and a one-annotator
panel giving exactly what `derive` gave before panels existed (the code of that commit, run on the same files)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from derive_fixtures import record, write_annotations, write_jsonl, write_panel_json, write_prepared
from melt.analysis import derive
from melt.analysis.aggregate import aggregate, dawid_skene, majority
from melt.analysis.layout import EXCLUDED_COLUMNS, MELT_COLUMNS
from melt.analysis.params import DeriveParams
from melt.data.labels import EMOTIONS
from melt.io import write_csv

REPO = Path(__file__).resolve().parents[1]
BEFORE_PANELS = "7ee5678e8ddd0173ca7d4a54565c806235c2d476"   # main before issue 15: single-annotator derive
EPS = 1e-10   # crowd-kit clips error counts at 1e-10 before normalising


def em_step_by_hand(labels: dict, workers: list[str], classes: list[str]) -> dict:
    """One Dawid–Skene EM iteration from the majority-vote initialisation, written out from the paper's formulas."""
    tasks = list(labels)
    # initialisation: T[t][c] = share of t's labels that are c
    T = {t: {c: sum(v == c for v in labels[t].values()) / len(labels[t]) for c in classes} for t in tasks}
    prior = {c: sum(T[t][c] for t in tasks) / len(tasks) for c in classes}
    # M-step: e[w][k][c] = P(w says k | true c) = Σ_t T[t][c]·[w said k at t] / Σ_t T[t][c]·[w labelled t]
    e = {}
    for w in workers:
        counts = {k: {c: max(sum(T[t][c] for t in tasks if labels[t].get(w) == k), EPS) for c in classes}
                  for k in classes if any(labels[t].get(w) == k for t in tasks)}
        e[w] = {k: {c: counts[k][c] / sum(counts[j][c] for j in counts) for c in classes} for k in counts}
    # E-step: T'[t][c] ∝ p_c · Π_w e[w][label of w at t][c]
    post = {}
    for t in tasks:
        raw = {c: prior[c] for c in classes}
        for w, k in labels[t].items():
            for c in classes:
                raw[c] *= e[w][k][c]
        z = sum(raw.values())
        post[t] = {c: raw[c] / z for c in classes}
    return post


def test_dawid_skene_one_em_step_matches_the_hand_computation():
    labels = {"t1": {"a": "anger", "b": "anger", "c": "anger"},
              "t2": {"a": "anger", "b": "anger", "c": "joy"},
              "t3": {"a": "joy", "b": "joy", "c": "anger"},
              "t4": {"a": "joy", "b": "sadness", "c": "joy"},
              "t5": {"a": "sadness", "b": "sadness"},                  # c gave no label here
              "t6": {"a": "anger", "b": "joy", "c": "sadness"}}
    expected = em_step_by_hand(labels, ["a", "b", "c"], ["anger", "joy", "sadness"])
    got = dawid_skene(labels, ["a", "b", "c"], "label_order", n_iter=1)
    for t, post in expected.items():
        d = got.decisions[t]
        assert d.posterior == {c: round(p, 6) for c, p in post.items() if round(p, 6) > 0}, t
        assert d.label == max(post, key=lambda c: (round(post[c], 6), -EMOTIONS.index(c)))
        assert d.confidence == round(max(post.values()), 6)


def test_dawid_skene_learns_a_contrarian_where_the_majority_fails():
    """a and b are right but for a's two slips; c always says the other label. The majority follows a and c on the
    slips; Dawid–Skene has learnt that c's `joy` means anger (and its `anger` joy) and gets every task right."""
    truth = ["anger", "joy"] * 10
    flip = {"anger": "joy", "joy": "anger"}
    labels = {}
    for i, true in enumerate(truth):
        labels[i] = {"a": flip[true] if i in (4, 11) else true, "b": true, "c": flip[true]}
    ds = aggregate("dawid_skene", labels, ["a", "b", "c"], "first_sample")
    mv = aggregate("majority", labels, ["a", "b", "c"], "first_sample")
    assert [ds.decisions[i].label for i in labels] == truth
    assert [i for i in labels if mv.decisions[i].label != truth[i]] == [4, 11]
    c = ds.confusion["c"]                                     # rows: true label, columns: what c says
    assert c.loc["anger", "joy"] > 0.99 and c.loc["joy", "anger"] > 0.99
    assert ds.confusion["b"].loc["anger", "anger"] > 0.99


def test_majority_shares_and_tie_rules():
    agg = majority({"x": {"a": "joy", "b": "anger", "c": "joy"}, "y": {"a": "joy", "b": "anger"}},
                   ["a", "b", "c"], "first_sample")
    assert (agg.decisions["x"].label, agg.decisions["x"].confidence, agg.decisions["x"].tied) == ("joy", 0.666667, False)
    y = agg.decisions["y"]                                    # c gave nothing: 1/3 each, a tie
    assert (y.label, y.confidence, y.tied) == ("joy", 0.333333, True)   # the first annotator's label in panel order
    tie = {"y": {"a": "joy", "b": "anger"}}
    assert majority(tie, ["a", "b", "c"], "label_order").decisions["y"].label == "anger"   # EMOTIONS order
    assert majority(tie, ["b", "a", "c"], "first_sample").decisions["y"].label == "anger"  # b first now
    assert majority(tie, ["a", "b", "c"], "exclude").decisions["y"].label is None


def panel_inputs(root: Path) -> dict:
    """prepared splits and three annotators (c with 3 samples, an audio annotator) with reproducible answers."""
    prepared = write_prepared(root / "prepared")
    recs = {name: write_annotations(root / "ann", prepared, samples=n, seed=seed, name=name, panel=False)
            for name, n, seed in (("a", 1, 1), ("b", 1, 2), ("c", 3, 3))}
    # train dia0_utt0: nobody gives a label; dia0_utt1: only c does
    for name in ("a", "b", "c"):
        recs[name]["train"] = [r if (r["dialogue_id"], r["utterance_id"]) != (0, 0) or r["sample"] else
                               record("train", 0, 0, 0, None, status="failed", error="timeout")
                               for r in recs[name]["train"] if (r["dialogue_id"], r["utterance_id"]) != (0, 0)
                               or r["sample"] == 0]
    for name in ("a", "b"):
        recs[name]["train"] = [r if (r["dialogue_id"], r["utterance_id"]) != (0, 1) else
                               {**r, "status": "invalid", "label": None, "error": "out-of-set"} for r in recs[name]["train"]]
    for name in recs:
        write_jsonl(root / f"ann/{name}/train.jsonl", recs[name]["train"])
    write_panel_json(root / "ann", {"a": 1, "b": 1, "c": 3}, inputs={"c": "audio"})
    return {"prepared": prepared, "records": recs}


def voted(records: list[dict]) -> dict:
    """Per (split, dialogue, utterance): the annotator's majority label over its samples (ties: first sample)."""
    out = {}
    frame = pd.DataFrame(records)
    for (s, d, u), g in frame.groupby(["split", "dialogue_id", "utterance_id"]):
        ok = g[g["status"] == "ok"].sort_values("sample")
        if len(ok):
            counts = Counter(ok["label"])
            top = max(counts.values())
            out[s, d, u] = next(lab for lab in ok["label"] if counts[lab] == top)
    return out


@pytest.mark.parametrize("method", ["majority", "dawid_skene"])
def test_derive_writes_the_panel_columns_and_the_aggregate(tmp_path, method):
    inputs = panel_inputs(tmp_path)
    report = derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt",
                        tmp_path / "m.json", tmp_path / "r.json", aggregate_method=method,
                        confusion_dir=tmp_path / "confusion")
    votes = {n: voted([r for split in recs.values() for r in split]) for n, recs in inputs["records"].items()}
    tasks = [k for split, df in inputs["prepared"].items() for k in
             [(split, int(d), int(u)) for d, u in zip(df.dialogue_id, df.utterance_id)]
             if any(k in votes[n] for n in votes)]
    if method == "dawid_skene":   # the library on the same (task, annotator, label) rows, built here
        from crowdkit.aggregation import DawidSkene
        frame = pd.DataFrame([(str(t), n, votes[n][t]) for t in tasks for n in ("a", "b", "c") if t in votes[n]],
                             columns=["task", "worker", "label"])
        model = DawidSkene(n_iter=100, tol=1e-5)
        post = model.fit_predict_proba(frame)
        expected = {t: post.loc[str(t)].reindex(list(EMOTIONS), fill_value=0.0).round(6) for t in tasks}
    labelled = pd.concat([pd.read_csv(tmp_path / f"melt/{s}.csv", dtype=str, keep_default_na=False)
                          for s in ("train", "dev", "test")])
    excluded = pd.read_csv(tmp_path / "melt/excluded.csv", dtype=str, keep_default_na=False)
    panel_cols = ["panel_agreement", "label_a", "label_b", "label_c", "confidence_c"]
    assert list(labelled.columns) == [*MELT_COLUMNS, *panel_cols]
    assert list(excluded.columns) == [*EXCLUDED_COLUMNS, *panel_cols]
    for row in pd.concat([labelled, excluded]).to_dict("records"):
        key = (row["split"], int(row["dialogue_id"]), int(row["utterance_id"]))
        given = {n: votes[n].get(key) for n in ("a", "b", "c")}
        assert [row[f"label_{n}"] for n in given] == [g or "" for g in given.values()]
        if not any(given.values()):
            assert row["reason"] == "no_valid_answer" and row["llm_label"] == ""
            continue
        if method == "majority":
            counts = Counter(g for g in given.values() if g)
            top = max(counts.values())
            label = next(g for g in given.values() if g and counts[g] == top)
            confidence = round(top / 3, 6)
        else:
            label = max(EMOTIONS, key=lambda c: (expected[key][c], -EMOTIONS.index(c)))
            confidence = expected[key][label]
        assert row["llm_label"] == label and float(row["llm_confidence"]) == confidence
        agree = [g == label for g in given.values() if g]
        assert float(row["panel_agreement"]) == round(sum(agree) / len(agree), 6)
        first = next(n for n in given if given[n] == label) if label in given.values() else None
        assert (row["context"] != "") == (first is not None)
    assert json.loads((tmp_path / "melt/panel.json").read_text())["aggregate"] == method
    assert report["panel"]["annotators"]["c"]["input"] == "audio"
    assert set(p.name for p in (tmp_path / "confusion").iterdir()) == {"a.csv", "b.csv", "c.csv"}
    if method == "dawid_skene":
        c = pd.read_csv(tmp_path / "confusion/c.csv", index_col="true_label")
        lib = model.errors_.xs("c", level="worker").reindex(index=list(EMOTIONS), columns=list(EMOTIONS),
                                                            fill_value=0.0).T.round(6)
        np.testing.assert_allclose(c.to_numpy(), lib.to_numpy(), atol=1e-6)


def old_derive(tmp_path: Path, params: DeriveParams, annotations: Path, out: Path) -> None:
    """`derive` as it was before panels (that commit's melt package, in its own folder), on the same files."""
    if subprocess.run(["git", "cat-file", "-e", f"{BEFORE_PANELS}^{{commit}}"], cwd=REPO).returncode != 0:
        pytest.skip(f"commit {BEFORE_PANELS[:8]} (before panels) is not in this clone's history")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "archive", BEFORE_PANELS, "melt"], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    code = ("import sys, json; from melt.analysis.derive import run; from melt.analysis.params import DeriveParams; "
            "run(DeriveParams(**json.loads(sys.argv[1])), *sys.argv[2:])")
    subprocess.run([sys.executable, "-c", code, params.model_dump_json(), str(tmp_path / "prepared"), str(annotations),
                    str(out), str(out / "m.json"), str(out / "r.json")], cwd=old, check=True,
                   env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(old)})


@pytest.mark.parametrize("params", [DeriveParams(), DeriveParams(tie_break="exclude", min_confidence=0.6)],
                         ids=["defaults", "exclude-ties-min-confidence"])
def test_a_one_annotator_panel_gives_exactly_todays_melt_csvs(tmp_path, params):
    prepared = write_prepared(tmp_path / "prepared")
    write_annotations(tmp_path / "ann", prepared, samples=3, seed=7)
    recs = (tmp_path / "ann/llm/train.jsonl").read_text().splitlines()
    write_jsonl(tmp_path / "ann/llm/train.jsonl", [json.loads(r) for r in recs if '"dialogue_id": 1,' not in r])
    old_derive(tmp_path, params, tmp_path / "ann/llm", tmp_path / "before")
    derive.run(params, tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "m.json",
               tmp_path / "r.json", aggregate_method="dawid_skene")
    for name, columns in [(f"{s}.csv", MELT_COLUMNS) for s in ("train", "dev", "test")] + [
            ("excluded.csv", EXCLUDED_COLUMNS)]:
        now = pd.read_csv(tmp_path / "melt" / name, dtype=str, keep_default_na=False)
        write_csv(now[list(columns)], tmp_path / "now" / name)
        assert (tmp_path / "now" / name).read_bytes() == (tmp_path / "before" / name).read_bytes(), name
    excluded = pd.read_csv(tmp_path / "melt/excluded.csv")
    assert len(excluded) > 0 and set(excluded["reason"]) >= {"not_annotated"}
