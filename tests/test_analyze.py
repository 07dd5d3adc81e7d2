"""analyze: Table 2 counts, change rate, κ, confusion, α among samples, comparison with a second run —
each checked against an independent computation on the same files."""

from __future__ import annotations

import json
from collections import Counter
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from derive_fixtures import (import_labels_files, record, released_melt_files, write_annotations, write_jsonl,
                             write_panel_json, write_prepared)
from melt.analysis import analyze, derive
from melt.analysis.params import AnalyzeParams, DeriveParams
from melt.data.labels import EMOTIONS

REPO = Path(__file__).resolve().parents[1]


def test_labels_file_import_matches_direct_pandas(tmp_path):
    prepared = write_prepared(tmp_path / "prepared", sizes=(("train", 60), ("dev", 21), ("test", 45)))
    files = released_melt_files(tmp_path / "released", prepared)
    import_labels_files(files, tmp_path / "prepared", tmp_path / "prompts", tmp_path / "ann", tmp_path, REPO / "prompts")
    first = json.loads((tmp_path / "ann/llm/train.jsonl").read_text().splitlines()[0])
    assert (first["backend"], first["status"], first["error"]) == ("labels-file", "invalid", "out-of-set label 'frustration'")
    derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "d.json",
               tmp_path / "derive-report.json")
    report = analyze.run(AnalyzeParams(), tmp_path / "melt", tmp_path / "ann", tmp_path / "a.json",
                         tmp_path / "report.json", tmp_path / "plots")
    assert json.loads((tmp_path / "report.json").read_text()) == report
    headline = json.loads((tmp_path / "a.json").read_text())
    assert set(headline) == {*files, "panel_alpha"} and all(set(headline[s]) == {"change_rate", "kappa"} for s in files)
    assert headline["panel_alpha"] is None   # one annotator: no panel agreement to measure

    for split, path in files.items():
        df = pd.read_csv(path)
        df["llm"] = df["llm_label"].str.lower()
        valid = df[df["llm"].isin(EMOTIONS)]
        got = report["splits"][split]
        assert got["n"] == len(valid) and got["excluded"] == len(df) - len(valid)
        assert got["change_rate"] == pytest.approx((valid["Emotion"] != valid["llm"]).mean(), abs=1e-4)
        assert got["kappa"] == pytest.approx(cohen_kappa_score(valid["Emotion"], valid["llm"]), abs=1e-4)
        assert headline[split] == {"change_rate": got["change_rate"], "kappa": got["kappa"]}
        crosstab = pd.crosstab(valid["Emotion"], valid["llm"]).reindex(index=EMOTIONS, columns=EMOTIONS, fill_value=0)
        assert got["confusion"]["matrix"] == crosstab.to_numpy().tolist()
        assert got["confusion"]["labels"] == list(EMOTIONS)
        assert got["label_counts"] == {e: {"meld": int((valid["Emotion"] == e).sum()), "melt": int((valid["llm"] == e).sum())}
                                       for e in EMOTIONS}
        for e in EMOTIONS:
            in_meld = valid[valid["Emotion"] == e]
            expect = (in_meld["llm"] == e).mean() if len(in_meld) else None
            assert got["per_class"][e]["agreement"] == (pytest.approx(expect, abs=1e-4) if expect is not None else None)
        oos = df.loc[~df["llm"].isin(EMOTIONS), "llm"].value_counts().to_dict()
        assert got["out_of_set_labels"] == oos and "frustration" in oos
        assert got["annotators"]["llm"]["samples_agreement"]["alpha"] is None  # one sample: nothing to measure
        # the confusion plot data: one row per labelled utterance, MELD vs MELT
        plot = pd.read_csv(tmp_path / f"plots/{split}.csv")
        assert Counter(zip(plot["meld"], plot["melt"])) == Counter(zip(valid["Emotion"], valid["llm"]))


def nominal_alpha(units):
    """Krippendorff's nominal α from the coincidence matrix (independent of the krippendorff package)."""
    o = Counter()
    for u in units:
        vals = [v for v in u if v is not None]
        if len(vals) < 2:
            continue
        for a, b in permutations(range(len(vals)), 2):
            o[vals[a], vals[b]] += 1 / (len(vals) - 1)
    n_c = Counter()
    for (a, _), w in o.items():
        n_c[a] += w
    n = sum(n_c.values())
    d_o = sum(w for (a, b), w in o.items() if a != b)
    d_e = sum(n_c[a] * n_c[b] for a in n_c for b in n_c if a != b) / (n - 1)
    return 1 - d_o / d_e


def test_samples_alpha_and_compare_with_second_run(tmp_path):
    prepared = write_prepared(tmp_path / "prepared")
    first = write_annotations(tmp_path / "ann", prepared, samples=3, seed=5)
    second = write_annotations(tmp_path / "ann2", prepared, samples=1, seed=9)
    derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "d.json",
               tmp_path / "dr.json")
    report = analyze.run(AnalyzeParams(compare_with=tmp_path / "ann2/llm"), tmp_path / "melt", tmp_path / "ann",
                         tmp_path / "a.json", tmp_path / "r.json", tmp_path / "plots")
    for split in prepared:
        units = {}
        for r in first[split]:
            units.setdefault((r["dialogue_id"], r["utterance_id"]), []).append(r["label"])
        got = report["splits"][split]["annotators"]["llm"]["samples_agreement"]
        assert got["samples"] == 3
        assert got["alpha"] == pytest.approx(nominal_alpha(units.values()), abs=1e-4)

        melt = pd.read_csv(tmp_path / f"melt/{split}.csv")
        other = {(r["dialogue_id"], r["utterance_id"]): r["label"] for r in second[split]}
        pairs = [(m, other[d, u]) for d, u, m in zip(melt.Dialogue_ID, melt.Utterance_ID, melt.llm_label)
                 if other.get((d, u))]
        cmp = report["splits"][split]["compare"]
        assert cmp["n"] == len(pairs)
        assert cmp["invalid_in_other"] == sum(other[d, u] is None for d, u in zip(melt.Dialogue_ID, melt.Utterance_ID))
        assert cmp["agreement"] == pytest.approx(np.mean([a == b for a, b in pairs]), abs=1e-4)
        assert cmp["kappa"] == pytest.approx(cohen_kappa_score(*zip(*pairs)), abs=1e-4)

    # the same comparison from one MELT-layout CSV with a split column
    both = pd.concat([pd.read_csv(tmp_path / f"melt/{s}.csv") for s in prepared])
    both.to_csv(tmp_path / "other.csv", index=False)
    again = analyze.run(AnalyzeParams(compare_with=tmp_path / "other.csv"), tmp_path / "melt", tmp_path / "ann",
                        tmp_path / "a2.json", tmp_path / "r2.json", tmp_path / "plots")
    assert all(again["splits"][s]["compare"]["kappa"] == 1.0 for s in prepared)


def test_single_label_everywhere_gives_null_kappa_not_a_crash(tmp_path):
    prepared = write_prepared(tmp_path / "prepared", sizes=(("train", 3), ("dev", 3), ("test", 3)))
    for split, df in prepared.items():
        df["Emotion"] = "joy"
        df.to_csv(tmp_path / f"prepared/{split}.csv", index=False)
        write_jsonl(tmp_path / f"ann/llm/{split}.jsonl",
                    [record(split, d, u, s, "joy") for d, u in zip(df.dialogue_id, df.utterance_id) for s in range(2)])
    write_panel_json(tmp_path / "ann", {"llm": 2})
    derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "d.json",
               tmp_path / "dr.json")
    report = analyze.run(AnalyzeParams(), tmp_path / "melt", tmp_path / "ann", tmp_path / "a.json", tmp_path / "r.json",
                         tmp_path / "p")
    test = report["splits"]["test"]
    assert test["kappa"] is None and test["change_rate"] == 0.0
    assert test["annotators"]["llm"]["samples_agreement"]["alpha"] is None
