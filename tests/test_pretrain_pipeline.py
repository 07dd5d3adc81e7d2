"""`dvc repro` on a fresh copy of the repository (the shared `reproduced`), offline: transcribe → pseudolabel →
pretrain_text; the model loads with from_pretrained; a re-run is a no-op; a new prompt template re-asks only the LLM."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from conftest import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory):
    """A writable copy of `reproduced` (a fresh copy's `dvc repro` ran the three stages: their outputs are checked
    below)."""
    repo = tmp_path_factory.mktemp("pretrain") / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    return repo


def test_the_text_model_loads_and_scores_above_chance(repo):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    folder = repo / "models" / "text" / "merits-text"
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert sorted(model.config.label2id) == ["negative", "neutral", "positive"]
    AutoModel.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)
    metrics = json.loads((repo / "metrics" / "pretrain_text.json").read_text())
    report = json.loads((repo / "reports" / "pretrain_text.json").read_text())
    assert len(metrics) <= 4
    assert metrics["meld_macro_f1"] == report["meld_test"]["macro_f1"]
    # the demo's closing claim (docs/pretrain.md): MELD-sentiment macro-F1 above uniform guessing
    assert metrics["meld_macro_f1"] > report["meld_test_chance"]["uniform_macro_f1"]
    transcripts = pd.read_csv(repo / "data" / "transcripts" / "demo.csv", keep_default_na=False)
    labels = pd.read_csv(repo / "data" / "pseudolabels" / "demo.csv", keep_default_na=False)
    assert len(transcripts) == len(labels) == report["train_items"] + report["heldout_items"]
    assert set(transcripts["source"]) == {"provided"}


def test_rerun_is_a_no_op(repo):
    out = run(["dvc", "repro", "pretrain_text"], repo).stdout
    assert "Running stage" not in out
    assert "didn't change" in out


def test_a_new_template_reasks_only_the_llm(repo):
    prompts = repo / "prompts"
    text = (prompts / "merits-sentiment-v1.txt").read_text(encoding="utf-8")
    (prompts / "merits-sentiment-v2.txt").write_text(text.replace("from a podcast", "from a recorded conversation"),
                                                    encoding="utf-8")
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["pseudolabel"]["template"] = "merits-sentiment-v2"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    out = run(["dvc", "repro", "pretrain_text"], repo).stdout
    assert "Stage 'transcribe' didn't change" in out
    assert "Running stage 'pseudolabel'" in out
    n = len(pd.read_csv(repo / "data" / "transcripts" / "demo.csv"))
    assert f"{n} requests, 0 from the answer store, {n} sent" in out   # new prompts: new keys, all asked
    # VADER reads the transcript, not the template: same labels, so the text model's input is unchanged
    assert "Stage 'pretrain_text' didn't change" in out
