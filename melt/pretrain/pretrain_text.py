"""Entry point of the `pretrain_text` stage: pseudo-labelled transcripts → models/text/<name>/ + metrics + report.

The items are split 80/20 by a hash of their id (`text.heldout_fraction`): an item keeps its side when the
corpus grows. The model is scored on the held-out pseudo-labels (agreement with the teacher) and on MELD's
human labels (`data/prepared/test.csv`: `Sentiment` for sentiment models, `Emotion` for emotion models),
the check nobody else reports: does a model taught by an LLM (or, offline, by a lexicon) agree with people?
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from melt.data.labels import EMOTIONS
from melt.io import TEMP_PREFIX, write_bytes, write_csv, write_json
from melt.metrics import classification_metrics, mosi_binary
from melt.pretrain.params import SENTIMENTS, TextParams
from melt.pretrain.text_model import build_classifier, predict_texts, schedule
from melt.pretrain.text_train import fine_tune, text_accelerator


def label_set(labels: str) -> list[str]:
    return list(SENTIMENTS) if labels == "sentiment" else sorted(EMOTIONS)


def is_heldout(item_id: str, fraction: float) -> bool:
    h = int(hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:15], 16)
    return h / 16 ** 15 < fraction


def scores(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    """Accuracy, macro and weighted F1 (melt.metrics: macro F1 over the classes in the reference), per class over
    the whole label set, confusion (rows: reference, columns: prediction)."""
    if not y_true:
        raise ValueError("no reference labels to score")
    headline = classification_metrics(y_true, y_pred, weighted_f1=True)
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {"n": len(y_true), "acc": headline["acc"], "macro_f1": headline["f1"],
            "weighted_f1": headline["f1_weighted"],
            "per_class": {c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                              "f1": round(float(f[i]), 4), "support": int(n[i])} for i, c in enumerate(labels)},
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def chance(y_true: list[str], labels: list[str]) -> dict:
    """What guessing scores: always the most frequent reference class, and uniform random guessing over the K
    classes of `labels` (expected F1 of a class = 2·p·(1/K)/(p + 1/K), p its share; macro F1 averages it over the
    classes in the reference, melt.metrics' convention)."""
    shares = {c: y_true.count(c) / len(y_true) for c in labels}
    k = len(labels)
    majority = max(labels, key=lambda c: shares[c])
    present = [p for p in shares.values() if p > 0]
    return {"majority_class": majority, "majority_acc": round(shares[majority], 4),
            "majority_macro_f1": classification_metrics(y_true, [majority] * len(y_true))["f1"],
            "uniform_acc": round(1 / k, 4),
            "uniform_macro_f1": round(sum(2 * p / k / (p + 1 / k) for p in present) / len(present), 4)}


def load_pseudolabels(path: Path, labels: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False, dtype={"item_id": str, "text": str, "label": str})
    missing = {"item_id", "text", "label", "status"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    usable = table[table["status"] == "ok"]
    bad = usable[~usable["label"].isin(labels)]
    if len(bad):
        row = bad.index[0] + 2
        raise ValueError(f"{path}: row {row}: label {bad['label'].iloc[0]!r} not in {labels} (pseudolabel.labels "
                         "and the file disagree: re-run the pseudolabel stage)")
    return usable.reset_index(drop=True)


def meld_reference(prepared_test: Path, labels: str) -> tuple[list[str], list[str]]:
    column = "Sentiment" if labels == "sentiment" else "Emotion"
    table = pd.read_csv(prepared_test, keep_default_na=False)
    missing = {"Utterance", column} - set(table.columns)
    if missing:
        raise ValueError(f"{prepared_test}: missing column(s) {sorted(missing)}")
    return table["Utterance"].astype(str).tolist(), table[column].str.strip().str.lower().tolist()


def save_model(model, tokenizer, out: Path) -> None:
    """save_pretrained into a `.melt-tmp-*` folder, then each file through melt.io (atomic, the usual mode)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for path in sorted(Path(tmp).iterdir()):
            write_bytes(out / path.name, path.read_bytes())


def load_mosi(path: Path) -> tuple[list[str], list[float]]:
    table = pd.read_csv(path, keep_default_na=False)
    missing = {"text", "sentiment"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)} (text.mosi_csv: text, sentiment in [-3, 3])")
    scores_ = pd.to_numeric(table["sentiment"], errors="coerce")
    bad = scores_.isna() | (scores_.abs() > 3)
    if bad.any():
        row = int(bad.idxmax())
        raise ValueError(f"{path}: row {row + 2}: sentiment {table['sentiment'].iloc[row]!r} is not a number in [-3, 3]")
    return table["text"].astype(str).tolist(), scores_.tolist()


def pretrain_text(text: TextParams, labels: str, pseudolabels: str | Path, prepared_test: str | Path = "data/prepared/test.csv",
                  models_dir: str | Path = "models/text", metrics_path: str | Path = "metrics/pretrain_text.json",
                  report_dir: str | Path = "reports", corpus: str = "", progress: bool = False, track: bool = True) -> dict:
    classes = label_set(labels)
    table = load_pseudolabels(Path(pseudolabels), classes)
    heldout = table["item_id"].map(lambda i: is_heldout(i, text.heldout_fraction))
    train, test = table[~heldout], table[heldout]
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"{pseudolabels}: {len(train)} training and {len(test)} held-out items: too few "
                         "pseudo-labelled items to train and score (check the pseudolabel report)")
    model, tokenizer = build_classifier(text, classes, train["text"].tolist())
    lr, epochs, batch_size = schedule(text)
    # On a machine without a GPU, `accelerate launch`/torchrun processes share the CPU only with cpu=True.
    accelerator = text_accelerator(text)
    run = None
    if track and accelerator.is_main_process:
        from melt.pretrain.tracking import Run, tracking_uri

        run = Run(tracking_uri(text.mlflow_tracking_uri), text.mlflow_experiment, text.name,
                  {**text.model_dump(mode="json", exclude={"scratch"}), **{f"scratch.{k}": v for k, v in
                   text.scratch.model_dump().items()}, "effective_lr": lr, "effective_epochs": epochs,
                   "effective_batch_size": batch_size, "labels": labels, "corpus": corpus,
                   "train_items": len(train), "heldout_items": len(test)})
    try:
        history = fine_tune(model, tokenizer, train["text"].tolist(), [classes.index(c) for c in train["label"]],
                            text, accelerator, on_epoch=run.log_epoch if run else None, progress=progress)
    except BaseException:
        if run:
            run.finish({}, status="FAILED")
        raise
    model = accelerator.unwrap_model(model)
    meld_texts, meld_true = meld_reference(Path(prepared_test), labels)
    keep = [i for i, y in enumerate(meld_true) if y in classes]   # MELD has no out-of-set labels; guard anyway
    meld_texts, meld_true = [meld_texts[i] for i in keep], [meld_true[i] for i in keep]

    def predict(texts):
        return [classes[i] for i in predict_texts(model, tokenizer, texts, text.max_length)]

    heldout_scores = scores(test["label"].tolist(), predict(test["text"].tolist()), classes)
    meld_pred = predict(meld_texts)
    meld_scores = scores(meld_true, meld_pred, classes)
    report = {"model": text.model, "labels": labels, "classes": classes, "corpus": corpus, "effective_lr": lr,
              "effective_epochs": epochs, "effective_batch_size": batch_size,
              "train_items": len(train), "heldout_items": len(test),
              "pseudolabel_distribution": {c: int((table["label"] == c).sum()) for c in classes},
              "heldout": heldout_scores, "meld_test": meld_scores, "meld_test_chance": chance(meld_true, classes),
              "history": history}
    if labels == "sentiment":
        from melt.pretrain.sentiment import VADER_ID, vader_label

        report["meld_test_vader"] = {"annotator": VADER_ID, **scores(meld_true, [vader_label(t) for t in meld_texts],
                                                                     classes)}
    if text.mosi_csv is not None and labels == "sentiment":
        from melt.pretrain.text_model import predict_logits

        mosi_texts, mosi_scores = load_mosi(Path(text.mosi_csv))
        logits = predict_logits(model, tokenizer, mosi_texts, text.max_length)
        # a 3-way model answers a binary question by comparing its positive and negative logits
        wins = (logits[:, classes.index("positive")] >= logits[:, classes.index("negative")]).tolist()
        report["mosi_test"] = {"n": len(mosi_scores), **mosi_binary(mosi_scores, wins)}
    headline = {"heldout_macro_f1": heldout_scores["macro_f1"], "heldout_acc": heldout_scores["acc"],
                "meld_macro_f1": meld_scores["macro_f1"], "meld_acc": meld_scores["acc"]}
    if accelerator.is_main_process:
        out = Path(models_dir) / text.name
        save_model(model, tokenizer, out)
        write_json(out / "label_map.json", {"labels": labels, "classes": classes})
        write_json(out / "history.json", {"loss": history})
        write_json(out / "training.json", {k: report[k] for k in ("model", "labels", "corpus", "effective_lr", "effective_epochs",
                                                                  "effective_batch_size", "train_items", "heldout_items")}
                   | {"params": text.model_dump(mode="json")})
        report_dir = Path(report_dir)
        write_json(report_dir / "pretrain_text.json", report)
        write_csv(pd.DataFrame({"epoch": range(1, len(history) + 1), "loss": history}),
                  report_dir / "pretrain_text" / "history.csv")
        write_csv(pd.DataFrame({"meld": meld_true, "predicted": meld_pred}),
                  report_dir / "pretrain_text" / "meld_confusion.csv")
        write_json(metrics_path, headline)
    if run:
        mosi = {f"mosi_{k}": v for k, v in report.get("mosi_test", {}).items() if k != "n" and v is not None}
        run.finish({**headline, "heldout_weighted_f1": heldout_scores["weighted_f1"],
                    "meld_weighted_f1": meld_scores["weighted_f1"], **mosi})
    return report
