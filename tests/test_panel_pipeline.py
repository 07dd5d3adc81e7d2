"""The demo's two-annotator panel through the real pipeline (the shared `reproduced` repository after `dvc repro`):
per-annotator columns, the aggregate, the analysis against sklearn/krippendorff on the same columns, the card; a
re-run sends nothing; `dvc exp run -S '+annotate.annotators.qwen={...}' -S '~annotate.annotators.audio_heuristic'`
buys only the new annotator's answers (from the loopback server that decodes the audio) and re-uses the others."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from datasets import load_dataset
from sklearn.metrics import cohen_kappa_score

from conftest import run
from llm_server import LOUD_DBFS, LLMServer
from melt.annotate.store import AnswerStore
from melt.data.labels import EMOTIONS

SPLITS = ("train", "dev", "test")
PANEL = {"text_heuristic": ("offline", "offline-heuristic-v1", "text", "melt-v1"),
         "audio_heuristic": ("offline", "offline-audio-arousal-v1", "audio", "melt-audio-v1")}


def all_rows(repo: Path) -> pd.DataFrame:
    """Every prepared utterance: the labelled splits, then excluded.csv (as strings)."""
    frames = [pd.read_csv(repo / f"data/melt/{s}.csv", dtype=str, keep_default_na=False) for s in SPLITS]
    frames.append(pd.read_csv(repo / "data/melt/excluded.csv", dtype=str, keep_default_na=False))
    return pd.concat(frames, ignore_index=True)


def annotation_labels(repo: Path, name: str) -> dict:
    out = {}
    for split in SPLITS:
        for line in (repo / f"data/annotations/{name}/{split}.jsonl").read_text().splitlines():
            r = json.loads(line)
            out[split, str(r["dialogue_id"]), str(r["utterance_id"])] = r["label"] or ""
    return out


def test_demo_panel_columns_aggregate_and_contract(reproduced):
    panel = json.loads((reproduced / "data/melt/panel.json").read_text())
    assert panel["aggregate"] == "dawid_skene"
    assert {n: tuple(a[k] for k in ("backend", "model", "input", "prompt")) for n, a in panel["annotators"].items()} \
        == PANEL
    rows = all_rows(reproduced)
    for name in PANEL:
        labels = annotation_labels(reproduced, name)
        assert rows[f"label_{name}"].tolist() == [labels[k] for k in zip(rows["split"], rows["dialogue_id"],
                                                                          rows["utterance_id"])]
    labelled = rows[rows["llm_label"] != ""]
    assert len(labelled) == len(rows) == json.loads((reproduced / "metrics/derive.json").read_text())["labelled"]
    both = labelled[labelled["label_text_heuristic"] == labelled["label_audio_heuristic"]]
    assert (both["llm_label"] == both["label_text_heuristic"]).all() and len(both) > 0   # agreement is the label
    agreement = [sum(row[f"label_{n}"] == row["llm_label"] for n in PANEL) / 2 for row in labelled.to_dict("records")]
    assert labelled["panel_agreement"].astype(float).tolist() == agreement
    posterior = labelled["llm_confidence"].astype(float)
    assert ((posterior > 0) & (posterior <= 1)).all() and posterior.nunique() > 2     # a posterior, not a vote share
    for name in PANEL:   # the estimated confusion matrices: rows are distributions over the annotator's labels
        matrix = pd.read_csv(reproduced / f"reports/panel_confusion/{name}.csv", index_col="true_label")
        assert list(matrix.index) == list(matrix.columns) == list(EMOTIONS)
        assert np.allclose(matrix.sum(axis=1)[matrix.sum(axis=1) > 0], 1.0, atol=1e-5)


def test_panel_analysis_matches_sklearn_and_krippendorff(reproduced):
    rows = all_rows(reproduced)
    report = json.loads((reproduced / "reports/analysis.json").read_text())["panel"]
    metrics = json.loads((reproduced / "metrics/analysis.json").read_text())
    md = (reproduced / "reports/panel.md").read_text()
    for name in PANEL:
        given = rows[rows[f"label_{name}"] != ""]
        kappa = round(cohen_kappa_score(given["Emotion"], given[f"label_{name}"]), 4)
        change = round(float((given["Emotion"] != given[f"label_{name}"]).mean()), 4)
        got = report["annotators"][name]
        assert (got["kappa_vs_meld"], got["change_rate_vs_meld"], got["labelled"]) == (kappa, change, len(given))
        assert f"| `{name}` |" in md and f"| {kappa:.4f} | {change:.4f} |" in md
    pair = report["pairwise"][0]
    assert (pair["a"], pair["b"]) == tuple(PANEL)
    assert pair["kappa"] == round(cohen_kappa_score(rows["label_text_heuristic"], rows["label_audio_heuristic"]), 4)
    codes = np.array([[EMOTIONS.index(v) if v else np.nan for v in rows[f"label_{n}"]] for n in PANEL])
    alpha = round(krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"), 4)
    assert report["alpha"]["alpha"] == metrics["panel_alpha"] == alpha
    assert f"across the panel: **{alpha:.4f}**" in md
    assert report["modalities"]["text-only"]["annotators"] == ["text_heuristic"]
    assert report["modalities"]["audio-aware"]["annotators"] == ["audio_heuristic"]


def test_card_and_dataset_carry_the_panel(reproduced, tmp_path):
    card = (reproduced / "data/hub/README.md").read_text()
    for name, (backend, model, input_, prompt) in PANEL.items():
        assert f"| `{name}` | {input_}" in card and f"`{model}`" in card and f"`{prompt}` (sha256" in card
    assert "`dawid_skene` (Dawid–Skene" in card and "What the answers cost | $0.0" in card
    assert "Prompt template `melt-audio-v1`" in card and "Text and audio." in card
    ds = load_dataset(str(reproduced / "data/hub"), cache_dir=str(tmp_path / "hf"))["test"]
    test = pd.read_csv(reproduced / "data/melt/test.csv", keep_default_na=False)
    for name in PANEL:
        feature = ds.features[f"label_{name}"]
        assert feature.names == list(EMOTIONS)
        assert [feature.int2str(i) for i in ds[f"label_{name}"]] == test[f"label_{name}"].tolist()
    assert ds["panel_agreement"] == pytest.approx(test["panel_agreement"].astype(float).tolist())


def test_a_forced_rerun_sends_nothing(reproduced, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    run(["dvc", "repro", "-f", "annotate"], repo)
    metrics = json.loads((repo / "metrics/annotate.json").read_text())
    rows = sum(len(pd.read_csv(repo / f"data/prepared/{s}.csv")) for s in SPLITS)
    assert metrics["requests_sent"] == 0 and metrics["cache_hits"] == metrics["requests"] == 2 * rows


def rule_on_file(path: Path) -> str:
    samples, _ = sf.read(path, dtype="float64")
    return "anger" if 20 * np.log10(np.sqrt(np.mean(samples ** 2))) > LOUD_DBFS else "sadness"


@pytest.mark.slow
def test_exp_run_adds_an_audio_llm_and_drops_an_annotator_paying_only_for_the_new_one(reproduced, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    store = repo / "cache/llm-store"
    before = sum(p.stat().st_size for p in store.glob("*.jsonl"))
    rows = pd.concat([pd.read_csv(repo / f"data/prepared/{s}.csv") for s in SPLITS], ignore_index=True)
    with LLMServer() as srv:
        # limits far above what 228 requests need: the default tpm bucket (input + max_tokens reserved per request)
        # would pace them at ~5 req/s, which is not what this test checks
        qwen = (f"{{backend: openai, base_url: '{srv.base_url}', model: qwen2-audio, input: audio, concurrency: 4, "
                f"rpm: 60000, tpm: 100000000}}")
        out = run(["dvc", "exp", "run", "--temp", "-n", "qwen", "-S", f"+annotate.annotators.qwen={qwen}",
                   "-S", "~annotate.annotators.audio_heuristic", "derive"], repo).stdout
        assert srv.chat_requests == len(rows) and len(srv.audio_log) == len(rows)   # only qwen's requests
        sent = sum(a["bytes"] for a in srv.audio_log)
    assert "annotate: run" in out
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    exp = next(e for commit in shown for e in (commit.get("experiments") or []) if e.get("name") == "qwen")
    metrics = exp["revs"][0]["data"]["metrics"]["metrics/annotate.json"]["data"]
    assert metrics["requests_sent"] == len(rows) and metrics["cache_hits"] == len(rows)   # text heuristic: cached
    # the one store grew by the new answers (a few hundred bytes each), not by the audio sent (tens of KB each)
    grown = sum(p.stat().st_size for p in store.glob("*.jsonl")) - before
    assert len(AnswerStore(store)) - len(AnswerStore(reproduced / "cache/llm-store")) == len(rows)
    assert 0 < grown < sent / 20
    run(["dvc", "exp", "apply", "qwen"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())["annotate"]["annotators"]
    assert list(params) == ["text_heuristic", "qwen"] and params["qwen"]["input"] == "audio"
    melt = all_rows(repo)
    assert "label_audio_heuristic" not in melt.columns
    by_key = {(s, str(d), str(u)): p for s, d, u, p in zip(rows["split"], rows["dialogue_id"], rows["utterance_id"],
                                                            rows["audio_path"])}
    expected = [rule_on_file(repo / by_key[k]) for k in zip(melt["split"], melt["dialogue_id"], melt["utterance_id"])]
    assert melt["label_qwen"].tolist() == expected
    assert json.loads((repo / "data/melt/panel.json").read_text())["annotators"]["qwen"]["model"] == "qwen2-audio"
