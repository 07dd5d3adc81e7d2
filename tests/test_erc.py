"""ERC end to end on a small MELD-format corpus: embeddings through the shared stores (SER features reused),
training (bit-reproducible, MLflow), evaluation (= scikit-learn on the written predictions), a turn without audio,
and the predict API. Text: a tiny random RoBERTa-style encoder loaded through from_pretrained; speech: eGeMAPS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, recall_score

from erc_helpers import WORDS, meld_corpus, tiny_text_model
from melt.erc import predict_dialogue
from melt.erc.data import build_tables
from melt.erc.embed import embed_turns
from melt.erc.evaluate import evaluate
from melt.erc.inference import MODELS
from melt.erc.params import ErcParams
from melt.erc.train import train_model
from melt.ser.checkpoint import CHECKPOINT_TAG, checkpoint_sha256
from melt.ser.features import extract_features
from melt.ser.params import SerParams
from melt.tracking import Tracker

MISSING = "test/dia0_utt1"


def erc_params(root: Path, **kw) -> ErcParams:
    base = dict(datasets={"demo": "meld"}, text_model=str(root / "text-model"),
                embedding_cache_dir=str(root / "erc-store"), mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                utterance_hidden=16, gru_hidden=8, heads=2, fusion_hidden=8,
                stage1={"epochs": 6}, stage2={"epochs": 4}, stage3={"epochs": 4})
    return ErcParams.model_validate({**base, **kw})


def ser_params(root: Path) -> SerParams:
    return SerParams.model_validate({"eval_corpora": [], "feature_cache_dir": str(root / "ser-store"),
                                     "egemaps_workers": 2, "device": "cpu"})


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("erc")
    paths = meld_corpus(root, missing_audio=MISSING)
    tiny_text_model(root / "text-model", [f"{w} number {u}" for w in WORDS.values() for u in range(5)])
    erc, ser = erc_params(root), ser_params(root)
    build_tables(erc, "demo", {}, paths["prepared"], paths["melt"], root / "erc")
    # The SER features stage runs first on the same audio: its vectors must be reused, not recomputed.
    extract_features(ser, "egemaps", paths["prepared"], root / "ser-features" / "egemaps", progress=False)
    runs = {m: embed_turns(m, erc, ser, root / "erc", root / "features" / m, progress=False) for m in ("text", "audio")}
    return {"root": root, "paths": paths, "erc": erc, "ser": ser, "runs": runs,
            "features": {m: root / "features" / m for m in ("text", "audio")}}


@pytest.fixture(scope="module")
def trained(corpus):
    root, erc = corpus["root"], corpus["erc"]
    summary = train_model(erc, "demo", root / "erc", corpus["features"], root / "models" / "demo_meld", progress=False)
    scores = evaluate(erc, "demo", root / "models" / "demo_meld", root / "erc", corpus["features"],
                      root / "metrics" / "demo_meld.json", root / "reports" / "demo_meld")
    return {**corpus, "summary": summary, "scores": scores, "model": root / "models" / "demo_meld",
            "report": root / "reports" / "demo_meld"}


def test_embeddings_reuse_the_stores_and_are_a_function_of_the_inputs(corpus, tmp_path):
    runs, root = corpus["runs"], corpus["root"]
    table = pd.read_csv(root / "erc" / "demo.csv")
    assert runs["audio"]["vectors_computed"] == 0              # all from the SER store (features@egemaps)
    assert runs["audio"]["status"] == {"ok": len(table) - 1, "failed": 1}
    index = pd.read_csv(corpus["features"]["audio"] / "index.csv").set_index("item_id")
    assert index.loc[MISSING, "status"] == "failed" and "audio missing" in index.loc[MISSING, "reason"]
    assert runs["text"]["vectors_computed"] == table["Utterance" if "Utterance" in table else "text"].nunique()

    again = embed_turns("text", corpus["erc"], corpus["ser"], root / "erc", tmp_path / "text", progress=False)
    assert again["vectors_computed"] == 0 and tree(tmp_path / "text") == tree(corpus["features"]["text"])
    fresh = corpus["erc"].model_copy(update={"embedding_cache_dir": tmp_path / "other-store"})
    embed_turns("text", fresh, corpus["ser"], root / "erc", tmp_path / "text-fresh", progress=False)
    assert tree(tmp_path / "text-fresh") == tree(corpus["features"]["text"])   # whatever the store held

    # The stored vector is the mean of the encoder's last hidden states (computed here independently).
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(root / "text-model"), AutoModel.from_pretrained(root / "text-model")
    text_index = pd.read_csv(corpus["features"]["text"] / "index.csv").set_index("item_id")
    for item, text in list(zip(table["item_id"], table["text"]))[:3]:
        with torch.no_grad():
            expected = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0].mean(0).numpy()
        stored = np.load(corpus["features"]["text"] / text_index.loc[item, "vectors"])
        assert stored.shape == (1, 1, 32) and np.allclose(stored[0, 0], expected, atol=1e-6)


def test_training_is_bit_reproducible(trained, tmp_path):
    train_model(trained["erc"], "demo", trained["root"] / "erc", trained["features"], tmp_path / "again",
                progress=False)
    assert tree(tmp_path / "again") == tree(trained["model"])
    config = json.loads((trained["model"] / "config.json").read_text())
    history = json.loads((trained["model"] / "history.json").read_text())
    for stage, epoch in config["chosen_epochs"].items():
        scores = [e["val_weighted_f1"] for e in history[stage]]
        assert epoch == int(np.argmax(scores))
    assert "run_id" not in json.dumps(config) and "seconds" not in json.dumps(config)


def test_scores_equal_sklearn_on_the_written_predictions(trained):
    predictions = pd.read_csv(trained["report"] / "predictions.csv")
    written = json.loads((trained["root"] / "metrics" / "demo_meld.json").read_text())
    assert written == trained["scores"] and set(written) == set(MODELS)
    for model in MODELS:
        rows = predictions[predictions["label"].notna() & predictions[model].notna()]
        y, p = list(rows["label"]), list(rows[model])
        assert written[model] == {"weighted_f1": round(f1_score(y, p, average="weighted"), 4),
                                  "acc": round(accuracy_score(y, p), 4),
                                  "uar": round(recall_score(y, p, labels=sorted(set(y)), average="macro"), 4)}
    report = json.loads((trained["report"] / "report.json").read_text())
    assert report["rows_scored"]["audio_utt"] == report["rows_scored"]["fusion"] - 1   # the turn without audio
    table = pd.read_csv(trained["root"] / "erc" / "demo.csv")
    counts = table[table["split"] == "train"]["label"].value_counts()
    assert counts.iloc[0] > counts.iloc[1]                        # no tie in this fixture
    y = list(predictions["label"].dropna())
    chance = report["chance_majority_class"]
    assert chance == {"class": counts.index[0], "weighted_f1": round(f1_score(y, [counts.index[0]] * len(y),
                                                                             average="weighted"), 4),
                      "acc": round(accuracy_score(y, [counts.index[0]] * len(y)), 4),
                      "uar": round(1 / len(set(y)), 4)}


def test_a_turn_without_audio_is_predicted_from_its_text(trained):
    predictions = pd.read_csv(trained["report"] / "predictions.csv").set_index("item_id")
    row = predictions.loc[MISSING]
    assert pd.isna(row["audio_utt"]) and pd.isna(row["audio_dialogue"])
    assert row["fusion_source"] == "text only: audio missing" and row["fusion"] == row["text_dialogue"]
    table = pd.read_csv(trained["root"] / "erc" / "demo.csv").set_index("item_id")
    assert "audio missing" in table.loc[MISSING, "note"]
    others = predictions.drop(index=MISSING)
    assert (others["fusion_source"] == "fusion").all()


def test_mlflow_run_of_the_model(trained):
    tracker = Tracker(trained["erc"].mlflow_tracking_uri, "melt-erc")
    run_id = trained["summary"]["run_id"]
    run = tracker.client.get_run(run_id)
    assert run.data.tags[CHECKPOINT_TAG] == checkpoint_sha256(trained["model"])   # how evaluation finds it
    assert run.data.params["dataset"] == "demo" and run.data.params["labels"] == "meld"
    assert run.data.params["stage2_epochs"] == "4"
    history = tracker.client.get_metric_history(run_id, "stage2_audio_val_weighted_f1")
    assert [m.step for m in history] == [0, 1, 2, 3]
    assert run.data.metrics["test_fusion_weighted_f1"] == trained["scores"]["fusion"]["weighted_f1"]  # evaluate


def test_predict_dialogue_matches_evaluation_and_handles_bad_turns(trained):
    table = pd.read_csv(trained["root"] / "erc" / "demo.csv")
    predictions = pd.read_csv(trained["report"] / "predictions.csv").set_index("item_id")
    dialogue = table[table["dialogue_id"] == "test/dia1"]
    turns = [(a, t, s) for a, t, s in zip(dialogue["audio_path"], dialogue["text"], dialogue["speaker"])]
    out = predict_dialogue(turns, trained["model"])
    assert [o["label"] for o in out] == list(predictions.loc[dialogue["item_id"], "fusion"])
    assert all(o["source"] == "fusion" and abs(sum(o["probabilities"].values()) - 1) < 1e-5 for o in out)

    broken = [(None, turns[0][1], "ana"), ("/no/such.wav", turns[1][1], "ben")] + turns[2:]
    out = predict_dialogue(broken, trained["model"])
    assert out[0]["source"] == "text only (audio missing: no path)" and out[0]["label"] is not None
    assert out[1]["source"] == "text only (audio missing: /no/such.wav)" and out[1]["label"] is not None

    single = predict_dialogue(turns[:1], trained["model"])    # a dialogue of one utterance: no context, still works
    assert single[0]["label"] is not None and single[0]["source"] == "fusion"
    with pytest.raises(ValueError, match="at least one turn"):
        predict_dialogue([], trained["model"])


def test_predict_refuses_other_text_weights(trained, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained["model"], copy)
    config = json.loads((copy / "config.json").read_text())
    config["embeddings"]["text"]["fingerprint"]["key"] = "0" * 16
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="now loads as"):
        predict_dialogue([(None, "hello there", "ana")], copy)


def test_fingerprint_of_a_classifier_checkpoint_is_stable(tmp_path):
    """`pretrain_text` saves a sequence classifier: AutoModel drops its head and creates a pooler the checkpoint lacks,
    with random weights. The fingerprint must not change from one load to the next (else every run re-embeds and the
    DVC output changes), and the embedding does not depend on the pooler."""
    from transformers import AutoModelForSequenceClassification

    from melt.erc.text import TextEncoder

    encoder_dir = tiny_text_model(tmp_path / "encoder", ["happy sad angry calm words"])
    torch.manual_seed(1)
    classifier = AutoModelForSequenceClassification.from_pretrained(encoder_dir, num_labels=3)
    classifier.save_pretrained(tmp_path / "classifier")
    shutil.copy(encoder_dir / "tokenizer.json", tmp_path / "classifier")
    shutil.copy(encoder_dir / "tokenizer_config.json", tmp_path / "classifier")
    first, second = TextEncoder(str(tmp_path / "classifier")), TextEncoder(str(tmp_path / "classifier"))
    assert first.info["key"] == second.info["key"]
    assert np.array_equal(first.embed("happy words"), second.embed("happy words"))
