"""SER registry: weighted-sum head, feature cache, train/evaluate round trip, label restriction, MLflow.

Backbones are tiny random Wav2Vec2/HuBERT/WavLM models saved to a temp folder and loaded through
`from_pretrained`; audio is synthetic tones whose pitch and loudness depend on the emotion.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

import pytest
import soundfile as sf
import torch

from melt.data.labels import EMOTIONS
from melt.compute.backbones import layer_means, load_backbone
from melt.ser.data import Arrays
from melt.ser.evaluate import evaluate_model
from melt.ser.features import extract_features
from melt.compute.heads import WeightedLayerHead, masked_mean
from melt.ser.params import SerParams
from melt.ser.predict import predict_emotion
from melt.compute.registry import BackboneSpec
from melt.ser.run import run_backbone
from melt.ser.train import train_models
from melt.ser.training import HeadConfig, train_head

TONES = {"anger": (330.0, 0.6), "sadness": (140.0, 0.12), "joy": (260.0, 0.4), "neutral": (190.0, 0.25)}
TESS = {"anger": "angry", "sadness": "sad", "joy": "happy", "neutral": "neutral"}
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, conv_dim=(16, 16),
            conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            layerdrop=0.0, mask_time_prob=0.0)


def write_voice(path: Path, seconds: float, freq: float, amp: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    wobble = 1 + 0.05 * np.sin(2 * np.pi * 3 * t)
    signal = amp * np.sin(2 * np.pi * freq * wobble * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal.astype(np.float32), 16000, subtype="PCM_16")


def tiny_model(folder: Path, kind: str, seed: int = 0) -> Path:
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

    config_cls, model_cls = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel),
                             "wavlm": (WavLMConfig, WavLMModel)}[kind]
    torch.manual_seed(seed)
    model_cls(config_cls(**TINY)).save_pretrained(folder)
    return folder


def make_data(root: Path, per_class: int = 5) -> dict[str, Path]:
    """prepared/ and melt/ CSVs, their audio, and an acted corpus in TESS layout."""
    labels = list(TONES)
    prepared, melt = {}, {}
    for s, split in enumerate(("train", "dev", "test")):
        rows = []
        for i in range(per_class * len(labels)):
            label = labels[i % len(labels)]
            freq, amp = TONES[label]
            seconds = 0.9 if i != 0 else 1.6  # one training utterance longer than crop_s
            audio = root / "audio" / split / f"dia{i}_utt0.wav"
            write_voice(audio, seconds + 0.05 * (i % 3), freq * (1 + 0.03 * (i % 4)), amp, seed=100 * s + i)
            meld = label if i % 3 else labels[(i + 1) % len(labels)]  # MELD disagrees on a third
            rows.append({"split": split, "dialogue_id": i, "utterance_id": 0, "audio_path": str(audio),
                         "Speaker": "ana", "Emotion": meld, "llm_label": label})
        rows.append({**rows[-1], "dialogue_id": 999, "llm_label": "frustration"})  # out of set: excluded
        write_voice(root / "audio" / split / "dia999_utt0.wav", 0.9, 200, 0.3, seed=9)
        rows[-1]["audio_path"] = str(root / "audio" / split / "dia999_utt0.wav")
        df = pd.DataFrame(rows)
        (root / "prepared").mkdir(exist_ok=True)
        (root / "melt").mkdir(exist_ok=True)
        df.to_csv(root / "prepared" / f"{split}.csv", index=False)
        df.to_csv(root / "melt" / f"{split}.csv", index=False)
        prepared[split], melt[split] = df, df
    for spk in ("AAA", "BBB"):
        for label, (freq, amp) in TONES.items():
            for k in range(2):
                write_voice(root / "acted" / f"{spk}_{TESS[label]}" / f"{spk}_w{k}_{TESS[label]}.wav", 0.8,
                            freq * (1.02 if spk == "BBB" else 1), amp, seed=k + len(spk))
    return {"prepared": root / "prepared", "melt": root / "melt", "acted": root / "acted"}


def ser_params(root: Path, data: dict, backbone_dir: Path | None, **kw) -> SerParams:
    extra = {"tiny": {"id": str(backbone_dir)}} if backbone_dir else {}
    base = dict(backbones=("tiny",) if backbone_dir else ("egemaps",), extra_backbones=extra,
                eval_corpora=("acted",), corpora={"acted": {"path": str(data["acted"])}},
                crop_s=0.5, train_crops=2, hidden_size=16, epochs=4, batch_size=8, device="cpu",
                mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                feature_cache_dir=str(root / "feature-store"))
    return SerParams.model_validate({**base, **kw})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ser")
    return root, make_data(root)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ser-small")
    return root, make_data(root, per_class=1)


@pytest.fixture(scope="module")
def trained(data):
    """Tiny wav2vec2: features → the `ser` stage's entry point (train, evaluate, Table 3 for MELT and MELD
    labels), shared by several tests. `metrics`: the MELT model's scores on its own labels (the report's)."""
    root, d = data
    backbone_dir = tiny_model(root / "tiny-wav2vec2", "wav2vec2")
    ser = ser_params(root, d, backbone_dir)
    info = extract_features(ser, "tiny", d["prepared"], root / "features", progress=False)
    result = run_backbone(ser, "tiny", d["melt"], root / "features", root / "models", root / "metrics.json",
                          root / "reports", root / "confusion", progress=False)
    report = json.loads((root / "reports" / "melt.json").read_text())["scores"]
    metrics = {s["target"]: {m: s[m] for m in ("uar", "acc", "f1")} for s in report if s["reference"] != "meld"}
    return {"root": root, "data": d, "ser": ser, "info": info, "summary": result["training"]["melt"],
            "result": result, "metrics": metrics, "backbone_dir": backbone_dir}


def test_weighted_sum_commutes_with_masked_mean_pooling():
    torch.manual_seed(0)
    head = WeightedLayerHead(layers=4, dim=6, hidden=5, classes=3, dropout=0.0).eval()
    with torch.no_grad():
        head.layer_logits.copy_(torch.tensor([0.3, -1.0, 2.0, 0.1]))
    states = torch.randn(2, 4, 7, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    weights = head.layer_weights
    assert torch.isclose(weights.sum(), torch.tensor(1.0)) and weights.argmax() == 2
    via_hidden = head.forward_hidden(states, mask)
    via_cache = head.forward_pooled(masked_mean(states, mask))
    manual = (weights[None, :, None, None] * states).sum(1)[1, :3].mean(0)
    assert torch.allclose(via_hidden, via_cache, atol=1e-6)
    assert torch.allclose(head.mlp(manual), via_hidden[1], atol=1e-6)
    garbage = states.clone()
    garbage[1, :, 3:] = 1e3  # padded frames must not count
    assert torch.allclose(head.forward_hidden(garbage, mask), via_hidden, atol=1e-5)


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "wavlm"])
def test_feature_cache_is_exact_and_second_run_extracts_nothing(request, tmp_path, kind):
    root, d = request.getfixturevalue("data" if kind == "wav2vec2" else "small_data")
    backbone_dir = tiny_model(tmp_path / f"tiny-{kind}", kind)
    ser = ser_params(root, d, backbone_dir)
    first = extract_features(ser, "tiny", d["prepared"], tmp_path / "features", progress=False)
    assert first["layers"] == TINY["num_hidden_layers"] + 1 and first["dim"] == TINY["hidden_size"]
    assert first["vectors_extracted"] == first["vectors_needed"] > 0 and first["vectors_reused"] == 0
    second = extract_features(ser, "tiny", d["prepared"], tmp_path / "features", progress=False)
    assert second["vectors_extracted"] == 0 and second["vectors_reused"] == first["vectors_needed"]
    assert second["fingerprint"] == first["fingerprint"]

    index = pd.read_csv(tmp_path / "features" / "index.csv")
    model = load_backbone(BackboneSpec(id=str(backbone_dir)))  # through from_pretrained
    assert model.config.layerdrop == 0.0 and model.config.mask_time_prob == 0.0
    row = index[(index["set"] == "test") & (index["status"] == "ok")].iloc[0]
    from melt.data.audio import load_audio

    cached = np.load(tmp_path / "features" / row["vectors"])
    assert cached.shape == (1, first["layers"], first["dim"])
    assert np.allclose(cached[0], layer_means(model, load_audio(row["audio_path"])), atol=1e-5)
    long_row = index[(index["set"] == "train") & (index["item_id"] == "dia0_utt0")].iloc[0]
    crops = np.load(tmp_path / "features" / long_row["vectors"])
    assert long_row["policy"] == "crop0.5s-k2" and crops.shape[0] == 2 and not np.allclose(crops[0], crops[1])
    excluded = index[index["status"] != "ok"]
    assert excluded.empty or excluded["reason"].notna().all()

    if kind == "wav2vec2":  # other weights under the same folder: a new fingerprint, everything re-extracted
        tiny_model(backbone_dir, kind, seed=1)
        third = extract_features(ser, "tiny", d["prepared"], tmp_path / "features", progress=False)
        assert third["fingerprint"]["key"] != first["fingerprint"]["key"]
        assert third["vectors_extracted"] == first["vectors_needed"]


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_features_output_is_a_function_of_params_and_inputs(small_data, tmp_path):
    """The output holds exactly what its index refers to: no counters, nothing left by earlier params, no temp
    file; the shared store keeps every vector for the next run."""
    root, d = small_data
    backbone_dir = tiny_model(tmp_path / "tiny", "wav2vec2")
    two_crops = ser_params(root, d, backbone_dir, feature_cache_dir=str(tmp_path / "store"))
    one_crop = two_crops.model_copy(update={"train_crops": 1})
    out = tmp_path / "features"
    first = extract_features(two_crops, "tiny", d["prepared"], out, progress=False)
    leftover = next((out / "store").rglob("*.npy")).parent / ".melt-tmp-x.npy.123"
    leftover.write_bytes(b"half a vector")  # a writer killed mid-way
    second = extract_features(one_crop, "tiny", d["prepared"], out, progress=False)
    index = pd.read_csv(out / "index.csv")
    n_train = index.loc[index["set"] == "train", "audio_sha256"].nunique()
    # only the training items' new crop policy is extracted; whole-utterance vectors come from the store
    assert (second["vectors_extracted"], second["vectors_reused"]) == (n_train, first["vectors_needed"] - n_train)
    fresh = extract_features(one_crop.model_copy(update={"feature_cache_dir": tmp_path / "other-store"}), "tiny",
                             d["prepared"], tmp_path / "fresh", progress=False)
    assert fresh["vectors_extracted"] == fresh["vectors_needed"]
    assert tree(out) == tree(tmp_path / "fresh")  # same params and inputs, same bytes, whatever the history
    info = json.loads((out / "info.json").read_text())
    assert not any(k.startswith("vectors_") for k in info)
    assert info["status"] == {"ok": info["items"], "excluded": 0, "failed": 0}
    assert {p for p in tree(out) if p.startswith("store/")} == set(index["vectors"].dropna())
    assert (tmp_path / "store" / index["vectors"].dropna().iloc[0]).is_file()  # the store keeps them
    # no shared store: the output is the store, pruned to what the index refers to
    local = one_crop.model_copy(update={"feature_cache_dir": None})
    extract_features(two_crops.model_copy(update={"feature_cache_dir": None}), "tiny", d["prepared"],
                     tmp_path / "local", progress=False)
    extract_features(local, "tiny", d["prepared"], tmp_path / "local", progress=False)
    assert tree(tmp_path / "local") == tree(out)


def test_missing_or_broken_audio_is_recorded_not_dropped(small_data, tmp_path):
    root, d = small_data
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    for split in ("train", "dev", "test"):
        df = pd.read_csv(d["prepared"] / f"{split}.csv")
        if split == "dev":
            df.loc[0, "audio_path"] = str(tmp_path / "gone.wav")
            (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
            df.loc[1, "audio_path"] = str(tmp_path / "broken.wav")
        df.to_csv(prepared / f"{split}.csv", index=False)
    ser = ser_params(root, d, tiny_model(tmp_path / "tiny", "wav2vec2"))
    info = extract_features(ser, "tiny", prepared, tmp_path / "features", progress=False)
    index = pd.read_csv(tmp_path / "features" / "index.csv")
    dev = index[index["set"] == "dev"].set_index("item_id")
    assert "audio missing or unreadable" in dev.loc["dia0_utt0", "reason"]
    assert dev.loc["dia1_utt0", "status"] == "failed" and "unreadable audio" in dev.loc["dia1_utt0", "reason"]
    assert info["status"]["failed"] == 2 and len(index) == info["items"]


def test_train_evaluate_round_trip(trained):
    root, metrics = trained["root"], trained["metrics"]
    assert set(metrics) == {"test", "acted"}
    for scores in metrics.values():
        assert set(scores) == {"uar", "acc", "f1"} and all(0.0 <= v <= 1.0 for v in scores.values())
    # headline DVC metrics: UAR and F1 per label set and target, the same numbers as the reports
    headline = json.loads((root / "metrics.json").read_text())
    assert headline == trained["result"]["metrics"] and set(headline) == {"melt", "meld"}
    assert headline["melt"] == {t: {"uar": s["uar"], "f1": s["f1"]} for t, s in metrics.items()}
    table = pd.read_csv(root / "reports" / "table3.csv")
    assert len(table) == 6 and "| tiny | MELD |" in (root / "reports" / "table3.md").read_text()
    config = json.loads((root / "models" / "melt" / "config.json").read_text())
    assert config["spec"]["id"] == str(trained["backbone_dir"]) and config["fingerprint"]["key"]
    assert config["heads"]["acted"]["dir"] == config["heads"]["test"]["dir"]  # same 7 classes: one head
    assert not (root / "models" / "melt" / "mlflow_run.json").exists()  # no run id in the checkpoint
    training = json.loads((root / "models" / "melt" / "training.json").read_text())
    assert training["excluded"] == 1  # the out-of-set llm_label, with its reason:
    assert "frustration" in pd.read_csv(root / "models" / "melt" / "exclusions.csv")["reason"][0]
    assert len(json.loads((root / "models" / "melt" / "history.json").read_text())["test"]) == trained["ser"].epochs

    wav = sorted((trained["data"]["acted"]).rglob("*.wav"))[0]
    label, probs = predict_emotion(wav, root / "models" / "melt")
    assert label == max(probs, key=probs.get) and abs(sum(probs.values()) - 1) < 1e-5
    assert set(probs) == set(config["heads"]["test"]["classes"])


def test_predict_refuses_other_backbone_weights(trained, tmp_path):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(trained["root"] / "models" / "melt", model_dir)
    other = tiny_model(tmp_path / "other", "wav2vec2", seed=7)
    config = json.loads((model_dir / "config.json").read_text())
    config["spec"]["id"] = str(other)
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="fingerprint"):
        predict_emotion(sorted(trained["data"]["acted"].rglob("*.wav"))[0], model_dir)


def test_mlflow_run_contents(trained):
    import mlflow

    ser = trained["ser"]
    from melt.tracking import checkpoint_sha256

    client = mlflow.MlflowClient(tracking_uri=ser.mlflow_tracking_uri)
    run_id = trained["summary"]["run_id"]
    run = client.get_run(run_id)
    # evaluate found this run through the checkpoint's content hash (nothing in the checkpoint names it)
    assert run.data.tags["checkpoint_sha256"] == checkpoint_sha256(trained["root"] / "models" / "melt")
    assert run.data.metrics["train_seconds"] > 0 and run.data.metrics["train_excluded"] == 1
    assert client.get_experiment(run.info.experiment_id).name == "melt-ser"
    p = run.data.params
    assert (p["backbone"], p["labels"], p["backbone_id"]) == ("tiny", "melt", str(trained["backbone_dir"]))
    assert float(p["lr"]) == ser.lr and int(p["epochs"]) == ser.epochs and int(p["batch_size"]) == ser.batch_size
    assert p["git_revision"] and p["dvc_experiment"] == "workspace"
    losses = client.get_metric_history(run_id, "loss")
    assert [m.step for m in sorted(losses, key=lambda m: m.step)] == list(range(ser.epochs))
    history = json.loads((trained["root"] / "models" / "melt" / "history.json").read_text())["test"]
    assert np.allclose([m.value for m in sorted(losses, key=lambda m: m.step)], history)
    for target, scores in trained["metrics"].items():
        for name, value in scores.items():
            assert run.data.metrics[f"{target}_{name}"] == pytest.approx(value)
    assert run.info.status == "FINISHED"


def test_evaluate_rebuilds_the_run_in_a_store_without_it(trained, tmp_path):
    """A fresh clone (checkpoints from DVC, an empty MLflow store): evaluate logs a run rebuilt from the checkpoint."""
    import mlflow

    root, d = trained["root"], trained["data"]
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    ser = trained["ser"].model_copy(update={"mlflow_tracking_uri": uri})
    metrics = evaluate_model(ser, "tiny", "melt", root / "models" / "melt", root / "features", d["melt"])
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("melt-ser").experiment_id])
    assert run.data.tags["rebuilt_from_checkpoint"] == "true" and run.data.params["labels"] == "melt"
    assert len(client.get_metric_history(run.info.run_id, "loss")) == ser.epochs
    assert run.data.metrics["acted_uar"] == pytest.approx(metrics["acted"]["uar"])


def test_heads_restricted_to_each_corpus_classes_on_the_same_utterances(trained, tmp_path):
    """Each head trains on the rows whose MELT *and* MELD labels are in its classes: the same utterances for
    both label sets (only the labels differ)."""
    from safetensors.torch import load_file

    d = trained["data"]
    melt_dir = tmp_path / "melt"
    shutil.copytree(d["melt"], melt_dir)
    train = pd.read_csv(melt_dir / "train.csv")
    train.loc[[1, 2], "Emotion"] = "surprise"    # not a CREMA-D class: out of the cremad head for both
    train.loc[[5, 6], "llm_label"] = "disgust"   # not an IEMOCAP class: out of the iemocap head for both
    train.to_csv(melt_dir / "train.csv", index=False)
    ser = trained["ser"].model_copy(update={"eval_corpora": ("acted", "iemocap", "cremad")})
    for labels in ("melt", "meld"):
        train_models(ser, "tiny", labels, melt_dir, trained["root"] / "features", tmp_path / labels, progress=False)

    config = json.loads((tmp_path / "meld" / "config.json").read_text())
    assert config["heads"]["iemocap"]["classes"] == ["anger", "sadness", "joy", "neutral"]
    assert "surprise" not in config["heads"]["cremad"]["classes"] and len(config["heads"]["cremad"]["classes"]) == 6
    weights = load_file(str(tmp_path / "meld" / config["heads"]["iemocap"]["dir"] / "model.safetensors"))
    assert weights["mlp.3.weight"].shape[0] == 4

    valid = train[train["llm_label"].isin(EMOTIONS) & train["Emotion"].isin(EMOTIONS)]
    used = {labels: pd.read_csv(tmp_path / labels / "training_rows.csv") for labels in ("melt", "meld")}
    for target, head in config["heads"].items():
        classes = head["classes"]
        expected = valid[valid["llm_label"].isin(classes) & valid["Emotion"].isin(classes)]
        for labels, column in (("melt", "llm_label"), ("meld", "Emotion")):
            rows = used[labels][used[labels]["head"] == head["dir"].split("/")[-1]]
            assert sorted(rows["dialogue_id"]) == sorted(expected["dialogue_id"]), (target, labels)
            assert dict(zip(rows["dialogue_id"], rows["label"])) == dict(zip(expected["dialogue_id"], expected[column]))
            per_head = json.loads((tmp_path / labels / "training.json").read_text())["per_head"]
            counts = per_head[head["dir"].split("/")[-1]]
            assert counts["rows"] == len(expected)
            assert {c: n for c, n in counts["classes"].items() if n} == expected[column].value_counts().to_dict()


def test_training_is_bit_reproducible(trained, tmp_path):
    """Same params and inputs → byte-identical checkpoint (and no run id or timing inside it)."""
    from melt.tracking import checkpoint_sha256

    d = trained["data"]
    again = train_models(trained["ser"], "tiny", "melt", d["melt"], trained["root"] / "features", tmp_path / "m",
                         progress=False)
    first, second = trained["root"] / "models" / "melt", tmp_path / "m"
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    assert again["checkpoint_sha256"] == checkpoint_sha256(first) == trained["summary"]["checkpoint_sha256"]
    assert again["run_id"] != trained["summary"]["run_id"]  # a new MLflow run, the same checkpoint


def test_evaluate_scores_equal_sklearn_on_rerun_predictions(trained):
    """metrics/ser and the report against scikit-learn on predictions re-run here from the checkpoint."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    from melt.ser.checkpoint import load_head, read_config
    from melt.ser.training import predict_pooled

    root, d = trained["root"], trained["data"]
    config = read_config(root / "models" / "melt")
    index = pd.read_csv(root / "features" / "index.csv")
    melt_test = pd.read_csv(d["melt"] / "test.csv")
    melt_test = melt_test[melt_test["llm_label"].isin(EMOTIONS) & melt_test["Emotion"].isin(EMOTIONS)]
    report = json.loads((root / "reports" / "melt.json").read_text())["scores"]
    assert {(s["target"], s["reference"]) for s in report} == {("test", "melt"), ("test", "meld"),
                                                               ("acted", "acted")}
    for s in report:
        head, classes = load_head(root / "models" / "melt", config["heads"][s["target"]]["dir"], config)
        if s["target"] == "test":
            items = index[index["set"] == "test"].set_index("item_id")
            ids = [f"dia{i}_utt0" for i in melt_test["dialogue_id"]]
            vectors = items.loc[ids, "vectors"]
            reference = list(melt_test["llm_label" if s["reference"] == "melt" else "Emotion"])
        else:
            items = index[(index["set"] == s["target"]) & (index["status"] == "ok")]
            ids, vectors, reference = list(items["item_id"]), items["vectors"], list(items["emotion"])
        x = np.stack([np.load(root / "features" / v)[0] for v in vectors])
        predicted = [classes[i] for i in predict_pooled(head, x).argmax(axis=1)]
        name = s["target"] if s["reference"] == s["target"] else f"{s['target']}-{s['reference']}"
        confusion = pd.read_csv(root / "confusion" / "melt" / f"{name}.csv")
        assert list(confusion["item_id"]) == ids and list(confusion["predicted"]) == predicted
        labels = sorted(set(reference))
        expected = {"uar": recall_score(reference, predicted, labels=labels, average="macro", zero_division=0),
                    "acc": accuracy_score(reference, predicted),
                    "f1": f1_score(reference, predicted, labels=labels, average="macro", zero_division=0)}
        assert {m: s[m] for m in expected} == pytest.approx(expected, abs=5e-5)
        assert s["rows"] == len(reference) and s["classes"] == labels
        if s["reference"] in ("melt", s["target"]):  # the model's own labels (melt) → the headline metrics
            assert trained["metrics"][s["target"]] == {m: s[m] for m in expected}


def test_training_is_seeded_and_deterministic():
    rng = np.random.default_rng(0)
    arrays = Arrays(rng.standard_normal((40, 2, 3, 8)).astype(np.float32), np.array([1, 2] * 20),
                    rng.integers(0, 3, 40))
    cfg = HeadConfig(hidden_size=8, epochs=3, batch_size=8, seed=5)
    a, ha = train_head(arrays, 3, cfg)
    b, hb = train_head(arrays, 3, cfg)
    assert ha == hb and all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    c, hc = train_head(arrays, 3, HeadConfig(hidden_size=8, epochs=3, batch_size=8, seed=6))
    assert hc != ha


def test_egemaps_backbone_round_trip(data, tmp_path):
    root, d = data
    ser = ser_params(tmp_path, d, None, epochs=60)
    info = extract_features(ser, "egemaps", d["prepared"], tmp_path / "features", progress=False)
    assert (info["layers"], info["dim"]) == (1, 88) and info["train_policy"] == "full"
    train_models(ser, "egemaps", "melt", d["melt"], tmp_path / "features", tmp_path / "model", progress=False)
    metrics = evaluate_model(ser, "egemaps", "melt", tmp_path / "model", tmp_path / "features", d["melt"])
    from melt.ser.checkpoint import load_head, read_config

    config = read_config(tmp_path / "model")
    head, _ = load_head(tmp_path / "model", config["heads"]["test"]["dir"], config)
    assert config["standardized"] and not torch.allclose(head.feature_std, torch.ones_like(head.feature_std))
    # Pitch and loudness separate these tones: eGeMAPS must beat chance (1/4 classes present) clearly.
    assert metrics["acted"]["uar"] > 0.5 and metrics["test"]["uar"] > 0.5
    wav = sorted(d["acted"].rglob("*_angry.wav"))[0]
    assert predict_emotion(wav, tmp_path / "model")[0] in config["heads"]["test"]["classes"]


def test_finetune_round_trip(data, tmp_path):
    root, d = data
    backbone_dir = tiny_model(tmp_path / "tiny-wavlm", "wavlm")
    ser = ser_params(tmp_path, d, backbone_dir, finetune=True, epochs=2)
    info = extract_features(ser, "tiny", d["prepared"], tmp_path / "features", progress=False)
    assert info["vectors_extracted"] == 0  # fine-tuning reads audio itself
    train_models(ser, "tiny", "melt", d["melt"], tmp_path / "features", tmp_path / "model", progress=False)
    tuned = tmp_path / "model" / "heads" / "test" / "backbone"
    assert (tuned / "config.json").is_file()
    before = load_backbone(BackboneSpec(id=str(backbone_dir))).state_dict()
    after = load_backbone(BackboneSpec(id=str(tuned))).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if "encoder.layers" in k)
    metrics = evaluate_model(ser, "tiny", "melt", tmp_path / "model", tmp_path / "features", d["melt"])
    assert set(metrics) == {"test", "acted"}
    wav = sorted(d["acted"].rglob("*.wav"))[0]
    label, probs = predict_emotion(wav, tmp_path / "model")
    assert label in TONES
    # predict runs the fine-tuned backbone saved with the head, not the original one
    from melt.data.audio import load_audio
    from melt.ser.checkpoint import load_head, read_config
    from melt.ser.model import FineTunedSer
    from melt.ser.training import predict_waves

    config = read_config(tmp_path / "model")
    head, classes = load_head(tmp_path / "model", config["heads"][config["default_head"]]["dir"], config)
    direct = predict_waves(FineTunedSer(load_backbone(BackboneSpec(id=str(tuned))), head), [load_audio(wav)])[0]
    assert [probs[c] for c in classes] == pytest.approx(direct.tolist(), abs=1e-6)
    shutil.rmtree(tuned)
    with pytest.raises(FileNotFoundError, match="fine-tuned checkpoint needs the backbone"):
        predict_emotion(wav, tmp_path / "model")


def test_tracking_store_is_the_original_repository(tmp_path, monkeypatch):
    from melt.tracking import repo_root, tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.delenv("DVC_ROOT")
    temp_run = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "standalone" / "tmpabc"
    temp_run.mkdir(parents=True)
    assert repo_root(temp_run) == tmp_path / "repo"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/x.db")
    assert tracking_uri() == "sqlite:////elsewhere/x.db" and tracking_uri("http://server:5000") == "http://server:5000"


def test_report_bolds_the_better_label_set_within_one_reference(tmp_path):
    """In-domain columns: one per reference. A MELT model scored on MELT labels is never compared with a MELD
    model scored on MELD labels."""
    from melt.ser.report import write_report

    def entry(target, reference, uar, acc=0.5, f1=0.4):
        return {"target": target, "reference": reference, "rows": 10, "classes": [], "uar": uar, "acc": acc, "f1": f1}

    scores = {  # each model is best on its own labels (as a model usually is): that must not decide the bolding
        "melt": [entry("test", "melt", 0.61), entry("test", "meld", 0.30), entry("tess", "tess", 0.39)],
        "meld": [entry("test", "melt", 0.35), entry("test", "meld", 0.55), entry("tess", "tess", 0.45)],
    }
    for labels, items in scores.items():
        (tmp_path / f"{labels}.json").write_text(json.dumps({"backbone": "bb", "labels": labels, "scores": items}))
    table = write_report(tmp_path, "bb", ["melt", "meld"], tmp_path / "t.md", tmp_path / "t.csv")
    md = (tmp_path / "t.md").read_text()
    assert ("| Backbone | Labels | MELT test (MELT labels) UAR | MELT test (MELT labels) ACC | MELT test (MELT labels) F1 "
            "| MELT test (MELD labels) UAR | MELT test (MELD labels) ACC | MELT test (MELD labels) F1 | TESS UAR |") in md
    # per column, the better label set on that column's reference; ties (ACC, F1) are not bold
    assert "| bb | MELT | **61.0** | 50.0 | 40.0 | 30.0 | 50.0 | 40.0 | 39.0 | 50.0 | 40.0 |" in md
    assert "| bb | MELD | 35.0 | 50.0 | 40.0 | **55.0** | 50.0 | 40.0 | **45.0** | 50.0 | 40.0 |" in md
    csv = pd.read_csv(tmp_path / "t.csv")
    assert len(csv) == len(table) == 6 and set(csv["reference"]) == {"melt", "meld", "tess"}
