"""ERC inside the offline demo pipeline: `dvc repro` on a fresh copy runs every ERC stage, a re-run is a no-op, a
new `erc.dropout` re-trains without re-embedding, the headline metrics stay within the ERC share, and the predict
API reproduces the evaluation's predictions from the DVC output."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from conftest import run

ERC_STAGES = ("erc_data", "erc_embed@text", "erc_embed@audio", "erc_train@demo", "erc_evaluate@demo", "erc_report")


def test_demo_pipeline_registers_the_checkpoint(reproduced):
    """Metrics, headline and table per protocol are checked in test_erc_demo_protocols.py; here the model files:
    exactly the checkpoint's files (the fine-tuned encoder only when the config names one)."""
    from melt.erc.checkpoint import FILES, TEXT_ENCODER

    model = reproduced / "models" / "erc" / "demo_meld"
    config = json.loads((model / "config.json").read_text())
    expected = set(FILES) | ({TEXT_ENCODER} if config["embeddings"]["text"].get("finetuned") else set())
    assert {p.name for p in model.iterdir()} == expected


@pytest.mark.slow
def test_rerun_is_a_noop_and_dropout_retrains_without_reembedding(reproduced, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    out = run(["dvc", "repro", "erc_report"], repo).stdout
    assert "Running stage" not in out
    params = (repo / "params.yaml").read_text()
    head, tail = params.split("\nerc:", 1)
    assert "\n  dropout: 0.2" in tail
    (repo / "params.yaml").write_text(head + "\nerc:" + tail.replace("\n  dropout: 0.2", "\n  dropout: 0.3", 1))
    out = run(["dvc", "repro", "erc_report"], repo).stdout
    ran = {s for s in ERC_STAGES if f"Running stage '{s}'" in out}
    assert ran == {"erc_train@demo", "erc_evaluate@demo", "erc_report"}, out


def test_predict_api_on_the_registered_model(reproduced, monkeypatch):
    from melt.erc.predict import predict_dialogue

    monkeypatch.chdir(reproduced)     # the checkpoint names the text model by its repository path
    turns = pd.read_csv("data/erc/demo.csv")
    predictions = pd.read_csv("reports/erc/demo_meld/predictions.csv").set_index("item_id")
    dialogue = turns[turns["dialogue_id"] == turns.loc[turns["split"] == "test", "dialogue_id"].iloc[0]]
    out = predict_dialogue(list(zip(dialogue["audio_path"], dialogue["text"], dialogue["speaker"])),
                           "models/erc/demo_meld")
    assert [o["label"] for o in out] == list(predictions.loc[dialogue["item_id"], "fusion"])


@pytest.mark.slow
def test_dvc_experiment_compares_label_sets(reproduced, tmp_path):
    """MELT vs MELD labels on the same model: one `dvc exp run -S`, compared in `dvc exp show` (2 epochs per
    stage: what is checked is the experiment's plumbing, not its scores)."""
    repo = tmp_path / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    short = [arg for stage in ("stage1", "stage2", "stage3") for arg in ("-S", f"erc.{stage}.epochs=2")]
    run(["dvc", "exp", "run", "-n", "melt-labels", "-S", "erc.datasets.demo=melt", *short], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    revs = {r["name"]: r["data"] for baseline in shown for e in baseline.get("experiments") or [] for r in e["revs"]}
    exp = revs["melt-labels"]
    assert exp["params"]["params.yaml"]["data"]["erc"]["datasets"] == {"demo": "melt"}
    assert set(exp["metrics"]["metrics/erc.json"]["data"]) == {"demo"}     # the same columns as the MELD baseline
    assert (repo / "models" / "erc" / "demo_melt" / "config.json").is_file()
