"""The `evaluate` stage: in-domain test split and cross-corpus evaluation of one checkpoint.

Every target is scored by its own head (restricted to the target's classes) on whole utterances.
Writes `{target: {uar, acc, f1}}` and logs `<target>_<metric>` to the model's MLflow run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from melt.io import write_json
from melt.ser.checkpoint import finetuned_backbone_dir, load_head, read_config
from melt.ser.data import IN_DOMAIN, attach_vectors, read_melt_split
from melt.ser.metrics import classification_metrics
from melt.ser.params import SerParams
from melt.ser.tracking import Tracker, tracking_uri
from melt.ser.train import metric_key, read_feature_info
from melt.ser.training import predict_pooled, predict_waves


def target_rows(target: str, label_set: str, index: pd.DataFrame, melt_dir: str | Path) -> pd.DataFrame:
    """Rows to score with columns audio_path, vectors, label (the reference emotion)."""
    if target == IN_DOMAIN:
        rows, _ = read_melt_split(melt_dir, "test")
        rows, _ = attach_vectors(rows, index, "test")
        return rows.assign(label=rows[label_set])
    sub = index[(index["set"] == target) & (index["status"] == "ok")]
    return sub.assign(label=sub["emotion"]).reset_index(drop=True)


def evaluate_model(ser: SerParams, backbone: str, label_set: str, model_dir: str | Path, features_dir: str | Path,
                   melt_dir: str | Path, metrics_path: str | Path) -> dict:
    config = read_config(model_dir)
    if (config["backbone"], config["label_set"]) != (backbone, label_set):
        raise ValueError(f"{model_dir}: checkpoint of {config['backbone']}/{config['label_set']}, "
                         f"expected {backbone}/{label_set}")
    _, index = read_feature_info(features_dir, backbone)
    results: dict[str, dict[str, float]] = {}
    for target, head_info in config["heads"].items():
        head, classes = load_head(model_dir, head_info["dir"], config)
        rows = target_rows(target, label_set, index, melt_dir)
        rows = rows[rows["label"].isin(classes)].reset_index(drop=True)
        if rows.empty:
            raise ValueError(f"no {target} items with labels in {classes} to evaluate "
                             f"(check ser.corpora.{target}.path and {features_dir}/index.csv)")
        probs = _predict(config, model_dir, head_info["dir"], head, rows, features_dir)
        predicted = [classes[i] for i in probs.argmax(axis=1)]
        results[target] = classification_metrics(list(rows["label"]), predicted)
    write_json(metrics_path, results)
    _log_to_mlflow(ser, config, model_dir, results)
    return results


def _predict(config, model_dir, head_dir, head, rows, features_dir) -> np.ndarray:
    if not config["finetune"]:
        x = np.stack([np.load(Path(features_dir) / v)[0] for v in rows["vectors"]])
        return predict_pooled(head, x)
    from melt.ser.backbones import load_backbone
    from melt.ser.model import FineTunedSer
    from melt.ser.registry import BackboneSpec
    from melt.ser.train import load_waves

    spec = BackboneSpec(**config["spec"])
    backbone = load_backbone(BackboneSpec(id=str(finetuned_backbone_dir(model_dir, head_dir)), loader=spec.loader))
    return predict_waves(FineTunedSer(backbone, head), load_waves(rows["audio_path"], spec))


def _log_to_mlflow(ser: SerParams, config: dict, model_dir: str | Path, results: dict) -> None:
    """Final metrics into the training run; if this store lacks it (e.g. a fresh clone), a run rebuilt from
    the checkpoint (params + per-epoch loss history) takes them."""
    tracker = Tracker(tracking_uri(ser.mlflow_tracking_uri), ser.mlflow_experiment)
    run_file = Path(model_dir) / "mlflow_run.json"
    run_id = json.loads(run_file.read_text())["run_id"] if run_file.is_file() else None
    if not tracker.exists(run_id):
        hp = config["hyperparameters"]
        params = {"backbone": config["backbone"], "backbone_id": config["spec"]["id"], "labels": config["label_set"],
                  "backbone_fingerprint": config["fingerprint"]["key"], "finetune": config["finetune"], **hp}
        run_id = tracker.start(f"{config['backbone']}-{config['label_set']}", params,
                               tags={"stage": "evaluate", "rebuilt_from_checkpoint": "true"})
        history = json.loads((Path(model_dir) / "history.json").read_text())
        for head, losses in history.items():
            for epoch, loss in enumerate(losses):
                tracker.log_metric(run_id, metric_key(head), loss, step=epoch)
        tracker.finish(run_id)
    tracker.log_metrics(run_id, {f"{t}_{m}": v for t, r in results.items() for m, v in r.items()})
