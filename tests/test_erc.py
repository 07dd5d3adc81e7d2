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
from melt.erc.data import build_tables
from melt.erc.embed import embed_turns
from melt.erc.evaluate import evaluate
from melt.erc.inference import MODELS
from melt.erc.params import ErcParams
from melt.erc.predict import predict_dialogue
from melt.erc.train import train_model
from melt.tracking import CHECKPOINT_TAG, checkpoint_sha256
from melt.ser.features import extract_features
from melt.ser.params import SerParams
from melt.tracking import Tracker

MISSING = "test/dia0_utt1"
# Utterances the MELT paper's filter removed: turns outside the MELT subset (context, and scored under `all`).
SET_ASIDE = {"train/dia0_utt2": "too_short", "train/dia3_utt1": "audio_missing", "test/dia1_utt0": "too_few_words",
             "test/dia2_utt3": "rare_speaker", "test/dia3_utt2": "generic_speaker"}


def erc_params(root: Path, **kw) -> ErcParams:
    base = dict(datasets={"demo": "meld"}, text_model=str(root / "text-model"),
                embedding_cache_dir=str(root / "erc-store"), mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                utterance_hidden=16, gru_hidden=8, heads=2, fusion_hidden=8,
                stage1={"epochs": 6}, stage2={"epochs": 4}, stage3={"epochs": 4})
    return ErcParams.model_validate({**base, **kw})


def ser_params(root: Path) -> SerParams:
    return SerParams.model_validate({"eval_corpora": [], "feature_cache_dir": str(root / "ser-store"),
                                     "device": "cpu"})


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("erc")
    paths = meld_corpus(root, missing_audio=MISSING, set_aside=SET_ASIDE)
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
    # from the SER store (features@egemaps on the prepared rows), but for the set-aside turns that have audio
    aside_with_audio = [i for i, why in SET_ASIDE.items() if why != "audio_missing"]
    assert runs["audio"]["vectors_computed"] == len(aside_with_audio) == 4
    assert runs["audio"]["status"] == {"ok": len(table) - 2, "failed": 2}     # MISSING, and train/dia3_utt1
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


def scores_by_hand(predictions: pd.DataFrame, model: str) -> dict:
    rows = predictions[predictions["label"].notna() & predictions[model].notna()]
    y, p = list(rows["label"]), list(rows[model])
    return {"weighted_f1": round(f1_score(y, p, average="weighted"), 4), "acc": round(accuracy_score(y, p), 4),
            "uar": round(recall_score(y, p, labels=sorted(set(y)), average="macro"), 4)}


def test_scores_equal_sklearn_on_the_written_predictions_per_protocol(trained):
    """MELD labels: `all` scores every test turn, `melt_subset` only the MELT subset's (whole dialogues as context)."""
    predictions = pd.read_csv(trained["report"] / "predictions.csv")
    written = json.loads((trained["root"] / "metrics" / "demo_meld.json").read_text())
    assert written == trained["scores"] and set(written) == {"all", "melt_subset"}
    subset = predictions[predictions["subset"] == "melt"]
    assert len(predictions) - len(subset) == 3                    # the three test turns set aside
    for model in MODELS:
        assert written["all"][model] == scores_by_hand(predictions, model)
        assert written["melt_subset"][model] == scores_by_hand(subset, model)
    report = json.loads((trained["report"] / "report.json").read_text())
    assert report["protocols"]["all"]["labelled_turns"] == len(predictions)
    assert report["protocols"]["melt_subset"]["labelled_turns"] == len(subset)
    assert report["protocols"]["all"]["rows_scored"]["audio_utt"] == len(predictions) - 1   # the turn without audio
    table = pd.read_csv(trained["root"] / "erc" / "demo.csv")
    counts = table[table["split"] == "train"]["label"].value_counts()
    assert counts.iloc[0] > counts.iloc[1]                        # no tie in this fixture
    for protocol, rows in (("all", predictions), ("melt_subset", subset)):
        y = list(rows["label"])
        chance = report["protocols"][protocol]["chance_majority_class"]
        assert chance == {"class": counts.index[0],
                          "weighted_f1": round(f1_score(y, [counts.index[0]] * len(y), average="weighted"), 4),
                          "acc": round(accuracy_score(y, [counts.index[0]] * len(y)), 4),
                          "uar": round(1 / len(set(y)), 4)}


def test_melt_labels_are_scored_on_the_melt_subset_only(corpus, tmp_path):
    """A MELT-labelled model trains and is scored on the MELT subset (the only turns with MELT labels); the others
    are context. Its `melt_subset` scores are sklearn's on those turns, against the MELT labels."""
    root = corpus["root"]
    erc = corpus["erc"].model_copy(update={"datasets": {"demo": "melt"}})
    build_tables(erc, "demo", {}, corpus["paths"]["prepared"], corpus["paths"]["melt"], tmp_path / "erc")
    table = pd.read_csv(tmp_path / "erc" / "demo.csv")
    assert table.loc[table["label"].notna(), "subset"].eq("melt").all() and table["subset"].isna().sum() == 5
    train_model(erc, "demo", tmp_path / "erc", corpus["features"], tmp_path / "model", progress=False)
    scores = evaluate(erc, "demo", tmp_path / "model", tmp_path / "erc", corpus["features"], tmp_path / "m.json",
                      tmp_path / "report")
    predictions = pd.read_csv(tmp_path / "report" / "predictions.csv")
    assert set(scores) == {"melt_subset"}                         # no `all`: MELT labels exist only on the subset
    melt_test = pd.read_csv(corpus["paths"]["melt"] / "test.csv")
    llm = {f"test/dia{d}_utt{u}": v for d, u, v in zip(melt_test["dialogue_id"], melt_test["utterance_id"],
                                                        melt_test["llm_label"])}
    scored = predictions[predictions["label"].notna()]
    assert dict(zip(scored["item_id"], scored["label"])) == llm   # every subset turn, its MELT label
    for model in MODELS:
        assert scores["melt_subset"][model] == scores_by_hand(predictions, model)
    assert len(predictions) == len(scored) + 3                    # set-aside turns predicted, never scored
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["subset_turns_without_label"] == {}


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
    assert run.data.metrics["test_all_fusion_weighted_f1"] == trained["scores"]["all"]["fusion"]["weighted_f1"]
    assert (run.data.metrics["test_melt_subset_fusion_weighted_f1"]
            == trained["scores"]["melt_subset"]["fusion"]["weighted_f1"])


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


@pytest.fixture
def one_thread():
    """Encoder passes one utterance at a time: on a busy 2-core machine two threads make them ~15× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_text_finetune_trains_the_encoder_and_stage_2_and_3_use_its_embeddings(corpus, tmp_path, one_thread):
    """`erc.text_finetune`: Stage I fine-tunes the encoder end to end; the dataset's text embeddings become the
    fine-tuned encoder's (mean of its last hidden states, computed here independently), which Stage II/III train on;
    the encoder is saved in the checkpoint (bit-identical on a re-run), evaluation and the predict API use it."""
    from transformers import AutoModel, AutoTokenizer

    from melt.erc.dialogues import load_dialogue_set
    from melt.erc.labels import classes
    from melt.erc.training import train_hierarchy

    root = corpus["root"]
    erc = erc_params(root, text_finetune=True, text_encoder_lr=1e-3, stage1={"epochs": 3}, stage2={"epochs": 2},
                     stage3={"epochs": 2})
    data, infos = load_dialogue_set(root / "erc", "demo", classes("demo", "meld"), corpus["features"])
    cached = data.modalities["text"].x.copy()
    models, history, chosen = train_hierarchy(data, erc, text_key=infos["text"]["fingerprint"]["key"])
    encoder, tokenizer = models.text_encoder
    base = AutoModel.from_pretrained(root / "text-model").state_dict()
    tuned = encoder.state_dict()
    assert any(not torch.equal(tuned[k], base[k]) for k in base if "pooler" not in k)   # the encoder moved
    assert len(history["stage1_text"]) == erc.stage1.epochs
    with torch.no_grad():
        for i, text in list(enumerate(data.turns["text"]))[:3]:
            expected = encoder(**tokenizer(text, return_tensors="pt")).last_hidden_state[0].mean(0).numpy()
            assert np.allclose(data.modalities["text"].x[i, 0], expected, atol=1e-6)
            assert not np.allclose(cached[i, 0], expected, atol=1e-4)          # not the frozen encoder's

    model = tmp_path / "model"
    train_model(erc, "demo", root / "erc", corpus["features"], model, progress=False)
    config = json.loads((model / "config.json").read_text())
    finetuned = config["embeddings"]["text"]["finetuned"]
    assert finetuned["path"] == "text_encoder" and finetuned["fingerprint"]["id"] == "text_encoder"
    assert finetuned["fingerprint"]["key"] != config["embeddings"]["text"]["fingerprint"]["key"]
    assert config["hyperparameters"]["text_finetune"] is True
    train_model(erc, "demo", root / "erc", corpus["features"], tmp_path / "again", progress=False)
    assert tree(tmp_path / "again") == tree(model)                             # encoder files included

    evaluate(erc, "demo", model, root / "erc", corpus["features"], tmp_path / "m.json", tmp_path / "report")
    predictions = pd.read_csv(tmp_path / "report" / "predictions.csv").set_index("item_id")
    table = pd.read_csv(root / "erc" / "demo.csv")
    dialogue = table[table["dialogue_id"] == "test/dia1"]
    out = predict_dialogue(list(zip(dialogue["audio_path"], dialogue["text"], dialogue["speaker"])), model)
    assert [o["label"] for o in out] == list(predictions.loc[dialogue["item_id"], "fusion"])
    # text_utt = the saved Stage I head on the saved encoder's embedding (computed here from text_encoder/)
    from melt.erc.checkpoint import load_checkpoint

    _, loaded = load_checkpoint(model)
    saved, saved_tok = AutoModel.from_pretrained(model / "text_encoder").eval(), AutoTokenizer.from_pretrained(
        model / "text_encoder")
    with torch.no_grad():
        for item, text in zip(dialogue["item_id"], dialogue["text"]):
            pooled = saved(**saved_tok(text, return_tensors="pt")).last_hidden_state[0].mean(0)
            label = config["classes"][int(loaded.utterance["text"](pooled[None, None, :]).argmax())]
            assert predictions.loc[item, "text_utt"] == label
