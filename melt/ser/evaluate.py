"""The `evaluate` stage: in-domain test split and cross-corpus evaluation of one checkpoint.

Every target is scored by its own head (restricted to the target's classes) on whole utterances, with
melt.metrics (UAR, ACC, macro F1 over the classes present in the reference). The in-domain test split is
scored against both references, MELT and MELD labels (the same utterances), so that models trained on either
label set can be compared on one reference. Returns `{target: {uar, acc, f1}}` (in-domain: against the
model's own label set, as in the paper); writes
- a report: every (target, reference) with its classes and row count;
- one confusion CSV per (target, reference): `item_id, reference, predicted` per scored row (DVC plots);
and logs the scores to the MLflow run that trained the checkpoint (found by the checkpoint's content hash).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from melt.io import write_csv, write_json
from melt.metrics import classification_metrics
from melt.ser.checkpoint import finetuned_backbone_dir, load_head, read_config
from melt.tracking import CHECKPOINT_TAG, checkpoint_sha256
from melt.ser.data import IN_DOMAIN, attach_vectors, read_melt_split
from melt.ser.features import read_feature_info
from melt.ser.params import SerParams
from melt.ser.tracking import metric_key
from melt.ser.training import predict_pooled, predict_waves
from melt.tracking import Tracker, dvc_experiment, tracking_uri

LABEL_SETS = ("melt", "meld")


def target_rows(target: str, index: pd.DataFrame, melt_dir: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows to score (item_id, audio_path, vectors, one column per reference) and reference → column."""
    if target == IN_DOMAIN:
        rows, _ = read_melt_split(melt_dir, "test")
        rows, _ = attach_vectors(rows, index, "test")
        return rows, {ref: ref for ref in LABEL_SETS}
    sub = index[(index["set"] == target) & (index["status"] == "ok")].reset_index(drop=True)
    return sub, {target: "emotion"}


def score(reference: list[str], predicted: list[str]) -> dict[str, float]:
    """The SER scores of one target (melt.metrics over the classes present in the reference)."""
    return classification_metrics(reference, predicted)


def evaluate_model(ser: SerParams, backbone: str, label_set: str, model_dir: str | Path, features_dir: str | Path,
                   melt_dir: str | Path, report_path: str | Path | None = None,
                   confusion_dir: str | Path | None = None) -> dict:
    """Score every target; write the report and the confusion CSVs; return the scores on the own labels."""
    config = read_config(model_dir)
    if (config["backbone"], config["label_set"]) != (backbone, label_set):
        raise ValueError(f"{model_dir}: checkpoint of {config['backbone']}/{config['label_set']}, "
                         f"expected {backbone}/{label_set}")
    _, index = read_feature_info(features_dir, backbone)
    headline: dict[str, dict[str, float]] = {}
    scores: list[dict] = []
    confusions: dict[str, pd.DataFrame] = {}
    for target, head_info in config["heads"].items():
        head, classes = load_head(model_dir, head_info["dir"], config)
        rows, references = target_rows(target, index, melt_dir)
        in_classes = np.logical_and.reduce([rows[c].isin(classes) for c in references.values()])
        rows = rows[in_classes].reset_index(drop=True)
        if rows.empty:
            raise ValueError(f"no {target} items with labels in {classes} to evaluate "
                             f"(check ser.corpora.{target}.path and {features_dir}/index.csv)")
        probs = _predict(config, model_dir, head_info["dir"], head, rows, features_dir)
        predicted = [classes[i] for i in probs.argmax(axis=1)]
        for reference, column in references.items():
            result = score(list(rows[column]), predicted)
            scores.append({"target": target, "reference": reference, "rows": len(rows),
                           "classes": sorted(set(rows[column])), **result})
            if reference in (label_set, target):
                headline[target] = result
            name = target if reference == target else f"{target}-{reference}"
            confusions[name] = pd.DataFrame({"item_id": rows["item_id"], "reference": rows[column],
                                             "predicted": predicted})
    if report_path is not None:
        write_json(report_path, {"backbone": backbone, "labels": label_set, "scores": scores})
    if confusion_dir is not None:
        confusion_dir = Path(confusion_dir)
        shutil.rmtree(confusion_dir, ignore_errors=True)
        for name, table in confusions.items():
            write_csv(table, confusion_dir / f"{name}.csv")
    _log_to_mlflow(ser, config, model_dir, scores, label_set)
    return headline


def _predict(config, model_dir, head_dir, head, rows, features_dir) -> np.ndarray:
    if not config["finetune"]:
        x = np.stack([np.load(Path(features_dir) / v)[0] for v in rows["vectors"]])
        return predict_pooled(head, x)
    from melt.compute.backbones import load_backbone, load_waves
    from melt.ser.model import FineTunedSer
    from melt.compute.registry import BackboneSpec

    spec = BackboneSpec(**config["spec"])
    backbone = load_backbone(BackboneSpec(id=str(finetuned_backbone_dir(model_dir, head_dir)), loader=spec.loader))
    return predict_waves(FineTunedSer(backbone, head), load_waves(rows["audio_path"], spec))


def mlflow_scores(scores: list[dict], label_set: str) -> dict[str, float]:
    """`<target>_<metric>` (in-domain: against the model's own labels), and `test_<reference>_<metric>`."""
    out = {}
    for s in scores:
        keys = [s["target"]] if s["reference"] in (s["target"], label_set) else []
        if s["target"] == IN_DOMAIN:
            keys.append(f"{IN_DOMAIN}_{s['reference']}")
        for key in keys:
            out.update({f"{key}_{m}": s[m] for m in ("uar", "acc", "f1")})
    return out


def _log_to_mlflow(ser: SerParams, config: dict, model_dir: str | Path, scores: list[dict], label_set: str) -> None:
    """Final metrics into the run that trained this checkpoint (tagged with its content hash). If this store
    lacks it (a fresh clone, a checkpoint restored by DVC), a run rebuilt from the checkpoint takes them."""
    tracker = Tracker(tracking_uri(ser.mlflow_tracking_uri), ser.mlflow_experiment)
    digest = checkpoint_sha256(model_dir)
    run_id = tracker.find_run(CHECKPOINT_TAG, digest, prefer={"dvc_experiment": dvc_experiment()})
    if run_id is None:
        hp = config["hyperparameters"]
        params = {"backbone": config["backbone"], "backbone_id": config["spec"]["id"], "labels": config["label_set"],
                  "backbone_fingerprint": config["fingerprint"]["key"], "finetune": config["finetune"],
                  "dvc_experiment": dvc_experiment(), **hp}
        run_id = tracker.start(f"{config['backbone']}-{config['label_set']}", params,
                               tags={"stage": "evaluate", "rebuilt_from_checkpoint": "true", CHECKPOINT_TAG: digest})
        history = json.loads((Path(model_dir) / "history.json").read_text())
        for head, losses in history.items():
            for epoch, loss in enumerate(losses):
                tracker.log_metric(run_id, metric_key(head), loss, step=epoch)
        tracker.finish(run_id)
    tracker.log_metrics(run_id, mlflow_scores(scores, label_set))
