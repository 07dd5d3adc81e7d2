"""The text model: trained on pseudo-labels, saved for from_pretrained, scored against sklearn on the loaded model's
predictions, logged to MLflow, deterministic; the 80/20 split, the chance baselines, the utterance embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from melt.pretrain.params import TextParams
from melt.pretrain.pretrain_text import chance, is_heldout, pretrain_text
from melt.pretrain.text_model import utterance_embeddings

LABELS = ["negative", "neutral", "positive"]
THINGS = ["pizza", "film", "flat", "garden", "song", "bus", "book", "cake", "party", "job", "shop", "game"]


def synthetic(tmp_path: Path) -> tuple[Path, Path]:
    rows = []
    for i, thing in enumerate(THINGS * 3):
        rows += [(f"p{i}", f"I really love the {thing}, it is great", "positive"),
                 (f"n{i}", f"I hate the {thing}, it is awful", "negative"),
                 (f"u{i}", f"The {thing} is on the second floor", "neutral")]
    labels = pd.DataFrame(rows, columns=["item_id", "text", "label"]).assign(status="ok")
    labels.loc[len(labels)] = ["x0", "garbled answer", "", "invalid"]     # not labelled: never trained on
    path = tmp_path / "pseudolabels.csv"
    labels.to_csv(path, index=False)
    test = pd.DataFrame({"Utterance": ["I love this cake", "I hate this bus", "The shop is on the floor",
                                       "It is great", "awful film"],
                         "Sentiment": ["positive", "negative", "neutral", "positive", "negative"],
                         "Emotion": ["joy", "anger", "neutral", "joy", "disgust"]})
    test.to_csv(tmp_path / "test.csv", index=False)
    return path, tmp_path / "test.csv"


def train(tmp_path: Path, tag: str, params: TextParams, uri: str | None = None) -> tuple[dict, Path]:
    labels, test = synthetic(tmp_path)
    out = tmp_path / tag
    report = pretrain_text(params, "sentiment", labels, test, out / "models", out / "metrics.json", out / "reports",
                           corpus="synthetic", track=uri is not None)
    return report, out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("text")
    pd.DataFrame({"text": ["I love this film", "I hate this bus", "The shop is on the floor", "great cake",
                           "awful awful song"], "sentiment": [2.4, -1.8, 0.0, 1.0, -3.0]}).to_csv(tmp / "mosi.csv", index=False)
    params = TextParams(device="cpu", mlflow_tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", mosi_csv=tmp / "mosi.csv")
    report, out = train(tmp, "a", params, params.mlflow_tracking_uri)
    return tmp, params, report, out


def test_model_loads_with_from_pretrained_and_its_scores_are_sklearns(trained):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tmp, params, report, out = trained
    folder = out / "models" / params.name
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert [model.config.id2label[i] for i in range(3)] == LABELS
    assert json.loads((folder / "label_map.json").read_text()) == {"labels": "sentiment", "classes": LABELS}

    def predict(texts):
        with torch.inference_mode():
            enc = tokenizer(texts, padding=True, return_tensors="pt")
            return [model.config.id2label[i] for i in model(**enc).logits.argmax(-1).tolist()]

    table = pd.read_csv(tmp / "pseudolabels.csv", keep_default_na=False)
    held = table[(table["status"] == "ok") & table["item_id"].map(lambda i: is_heldout(i, 0.2))]
    pred = predict(held["text"].tolist())
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"heldout_macro_f1", "heldout_acc", "meld_macro_f1", "meld_acc"}
    assert metrics["heldout_acc"] == round(accuracy_score(held["label"], pred), 4)
    # macro F1 over the classes in the reference (melt.metrics' one convention)
    assert metrics["heldout_macro_f1"] == round(f1_score(held["label"], pred, labels=sorted(set(held["label"])),
                                                         average="macro"), 4)
    assert report["heldout"]["weighted_f1"] == round(f1_score(held["label"], pred, labels=LABELS, average="weighted"), 4)
    test = pd.read_csv(tmp / "test.csv")
    meld_pred = predict(test["Utterance"].tolist())
    assert metrics["meld_acc"] == round(accuracy_score(test["Sentiment"], meld_pred), 4)
    assert metrics["meld_macro_f1"] == round(f1_score(test["Sentiment"], meld_pred,
                                                      labels=sorted(set(test["Sentiment"])), average="macro"), 4)
    assert report["train_items"] + report["heldout_items"] == len(table) - 1   # the invalid row is not used
    assert report["heldout"]["acc"] >= 0.9       # the synthetic task is learnt (words decide the label)


def test_mosi_binary_sentiment_from_the_positive_and_negative_logits(trained):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tmp, params, report, out = trained
    folder = out / "models" / params.name
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    mosi = pd.read_csv(tmp / "mosi.csv")
    with torch.inference_mode():
        logits = model(**tokenizer(mosi["text"].tolist(), padding=True, return_tensors="pt")).logits
    wins = (logits[:, 2] >= logits[:, 0]).tolist()     # positive vs negative; neutral plays no part
    truth = (mosi["sentiment"] >= 0).tolist()
    assert report["mosi_test"]["acc2_has0"] == round(accuracy_score(truth, wins), 4)
    assert report["mosi_test"]["f1_has0"] == round(f1_score(truth, wins, average="weighted"), 4)
    nonzero = mosi["sentiment"] != 0
    assert report["mosi_test"]["acc2_non0"] == round(accuracy_score(
        (mosi["sentiment"][nonzero] > 0).tolist(), [w for w, k in zip(wins, nonzero) if k]), 4)


def test_mosi_scores_by_hand():
    from melt.metrics import mosi_binary

    # scores 2, 0, -1, -2 with predictions pos, neg, neg, pos: has-0 truth pos, pos, neg, neg → 2 of 4 right;
    # non-0 drops the 0 → truth pos, neg, neg vs pos, neg, pos → 2 of 3
    m = mosi_binary([2.0, 0.0, -1.0, -2.0], [True, False, False, True])
    assert m["acc2_has0"] == 0.5 and m["acc2_non0"] == round(2 / 3, 4)
    assert m["f1_has0"] == 0.5


def test_one_mlflow_run_with_params_loss_per_epoch_and_metrics(trained):
    import mlflow

    _, params, report, out = trained
    client = mlflow.MlflowClient(tracking_uri=params.mlflow_tracking_uri)
    exp = client.get_experiment_by_name("melt-pretrain")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["model"] == "scratch" and run.data.params["effective_epochs"] == "30"
    losses = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
    assert losses == pytest.approx(report["history"]) and len(losses) == 30
    metrics = json.loads((out / "metrics.json").read_text())
    assert {k: run.data.metrics[k] for k in metrics} == pytest.approx(metrics)
    assert run.info.run_id not in (out / "reports" / "pretrain_text.json").read_text()


def test_training_is_deterministic(tmp_path, trained):
    _, params, _, out = trained
    _, again = train(tmp_path, "b", params.model_copy(update={"mlflow_tracking_uri": None}))
    for name in ("model.safetensors", "tokenizer.json", "config.json", "history.json"):
        assert (again / "models" / params.name / name).read_bytes() == (out / "models" / params.name / name).read_bytes()
    assert (again / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()


def test_embeddings_are_masked_means(trained):
    _, params, _, out = trained
    folder = out / "models" / params.name
    alone = utterance_embeddings(["I love the cake"], folder)
    padded = utterance_embeddings(["I love the cake", "The film is on the second floor and the bus is late"], folder)
    assert alone.shape == (1, 64)
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_heldout_side_is_stable_when_the_corpus_grows():
    ids = [f"MSP-PODCAST_{i:04d}" for i in range(2000)]
    first = {i for i in ids[:1000] if is_heldout(i, 0.2)}
    grown = {i for i in ids if is_heldout(i, 0.2)}
    assert first == {i for i in grown if i in set(ids[:1000])}
    assert 0.17 < len(grown) / len(ids) < 0.23


def test_chance_baselines_by_hand():
    c = chance(["negative", "negative", "positive", "neutral"], LABELS)
    assert c["majority_class"] == "negative" and c["majority_acc"] == 0.5
    # uniform guessing: per class F1 = 2·p·(1/3)/(p + 1/3): 0.4 (p=.5), 0.2857 (p=.25) twice → mean 0.3238
    assert c["uniform_macro_f1"] == pytest.approx((0.4 + 2 * (2 * 0.25 / 3) / (0.25 + 1 / 3)) / 3, abs=1e-4)
    # always "negative": F1 2/3 for negative, 0 for the others
    assert c["majority_macro_f1"] == pytest.approx(round((2 / 3) / 3, 4))


def test_a_label_outside_the_set_names_file_and_row(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"item_id": ["a", "b"], "text": ["x", "y"], "label": ["positive", "joy"],
                  "status": ["ok", "ok"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"bad.csv: row 3: label 'joy'"):
        pretrain_text(TextParams(device="cpu"), "sentiment", path, tmp_path / "t.csv", track=False)
