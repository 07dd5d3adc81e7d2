"""Training (in the `ser` stage): one model per (backbone, label set) = one head per evaluation class set,
logged to MLflow.

The checkpoint holds nothing run-dependent: the MLflow run id, timings and counters go to MLflow and the log;
the run is tagged with the checkpoint's content hash, which is how evaluation finds it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from melt.io import write_csv, write_json
from melt.ser.checkpoint import CONFIG, save_head
from melt.tracking import CHECKPOINT_TAG, checkpoint_sha256
from melt.ser.data import IN_DOMAIN, attach_vectors, load_arrays, plan_heads, read_melt_split, restrict, target_classes
from melt.ser.features import read_feature_info
from melt.ser.params import SerParams
from melt.compute.registry import EGEMAPS
from melt.ser.tracking import metric_key
from melt.ser.training import HeadConfig, finetune, make_accelerator, train_head
from melt.tracking import Tracker, dvc_experiment, git_revision, tracking_uri

# Everything train writes into a checkpoint folder (and mlflow_run.json of older versions): cleared first.
OUTPUTS = ("heads", CONFIG, "history.json", "training.json", "training_rows.csv", "exclusions.csv", "mlflow_run.json")


class _LossLogger:
    """Per-epoch loss to MLflow, flushed in batches (a sqlite write per epoch would dominate cached training)."""

    def __init__(self, tracker: Tracker, run_id: str, key: str, every_s: float = 10.0):
        self.tracker, self.run_id, self.key, self.every_s = tracker, run_id, key, every_s
        self.pending: list[tuple[int, float]] = []
        self.last = time.monotonic()

    def __call__(self, epoch: int, loss: float) -> None:
        self.pending.append((epoch, loss))
        if time.monotonic() - self.last > self.every_s:
            self.flush()

    def flush(self) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        if self.pending:
            self.tracker.client.log_batch(self.run_id, metrics=[Metric(self.key, v, now, s) for s, v in self.pending])
        self.pending, self.last = [], time.monotonic()


def run_params(ser: SerParams, backbone: str, label_set: str, info: dict) -> dict:
    spec = ser.backbone_spec(backbone)
    return {"backbone": backbone, "backbone_id": spec.id, "backbone_revision": spec.revision or "default",
            "backbone_fingerprint": info["fingerprint"]["key"], "labels": label_set,
            "hidden_size": ser.hidden_size, "dropout": ser.dropout, "lr": ser.lr, "batch_size": ser.batch_size,
            "epochs": ser.epochs, "seed": ser.seed, "optimizer": "Adam", "finetune": ser.finetune,
            "crop_s": ser.crop_s, "train_crops": ser.train_crops, "eval_corpora": ",".join(ser.eval_corpora),
            "git_revision": git_revision(), "dvc_experiment": dvc_experiment()}


def train_models(ser: SerParams, backbone: str, label_set: str, melt_dir: str | Path, features_dir: str | Path,
                 model_dir: str | Path, progress: bool = True) -> dict:
    """Train the heads of one model and write its checkpoint to `model_dir`; returns a summary for the log
    (with the MLflow run id and the training time, which the checkpoint does not hold)."""
    started = time.monotonic()
    model_dir = Path(model_dir)
    accelerator = make_accelerator(ser.device)
    # Under `accelerate launch` every process trains on its shard; only the main one logs and writes.
    main = accelerator.is_main_process
    if main:
        for stale in OUTPUTS:
            target = model_dir / stale
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        model_dir.mkdir(parents=True, exist_ok=True)
    info, index = read_feature_info(features_dir, backbone)
    rows, excluded = read_melt_split(melt_dir, "train")
    if not ser.finetune:
        rows, no_features = attach_vectors(rows, index, "train")
        excluded = pd.concat([excluded, no_features], ignore_index=True)
    heads, target_head = plan_heads(target_classes(ser.eval_corpora))
    cfg = HeadConfig(ser.hidden_size, ser.dropout, ser.lr, ser.batch_size, ser.epochs, ser.seed)
    spec = ser.backbone_spec(backbone)

    tracker = Tracker(tracking_uri(ser.mlflow_tracking_uri), ser.mlflow_experiment)
    params = run_params(ser, backbone, label_set, info)
    run_id = tracker.start(f"{backbone}-{label_set}", params, tags={"stage": "train"}) if main else None
    history: dict[str, list[float]] = {}
    counts: dict[str, dict] = {}
    used: list[pd.DataFrame] = []
    head_dirs: dict[str, str] = {}
    layers, dim = info["layers"], info["dim"]
    try:
        for head_name, classes in heads.items():
            sub = restrict(rows, classes)
            if sub.empty:
                raise ValueError(f"no training rows with MELT and MELD labels in {classes} for head {head_name!r}")
            counts[head_name] = {"rows": len(sub), "classes": {c: int((sub[label_set] == c).sum()) for c in classes}}
            used.append(sub[["split", "dialogue_id", "utterance_id"]].assign(head=head_name, label=sub[label_set]))
            logger = _LossLogger(tracker, run_id, metric_key(head_name)) if main else None
            if ser.finetune:
                model, history[head_name] = _finetune_head(ser, spec, sub, label_set, classes, cfg, accelerator,
                                                           logger, progress)
                head, backbone_out = model.head, model.backbone
                layers, dim = head.feature_mean.shape
            else:
                data = load_arrays(features_dir, list(sub["vectors"]), list(sub[label_set]), classes)
                head, history[head_name] = train_head(data, len(classes), cfg, standardize=spec.id == EGEMAPS,
                                                      accelerator=accelerator, on_epoch=logger, progress=progress)
                backbone_out = None
            if main:
                logger.flush()
                head_dirs[head_name] = save_head(model_dir, head_name, head, classes, backbone_out)
    except BaseException:
        if main:
            tracker.finish(run_id, "FAILED")
        raise
    accelerator.wait_for_everyone()
    summary = {"rows": len(rows), "excluded": len(excluded),
               "final_loss": {h: round(v[-1], 4) for h, v in history.items()}}
    if not main:
        return {"run_id": None, **summary}

    config = {"backbone": backbone, "spec": spec.model_dump(), "fingerprint": info["fingerprint"],
              "label_set": label_set, "layers": int(layers), "dim": int(dim), "finetune": ser.finetune,
              "standardized": spec.id == EGEMAPS, "hyperparameters": cfg.__dict__,
              "train_policy": info["train_policy"], "eval_policy": info["eval_policy"], "default_head": IN_DOMAIN,
              "heads": {t: {"dir": head_dirs[h], "classes": list(heads[h])} for t, h in target_head.items()}}
    write_json(model_dir / CONFIG, config)
    write_json(model_dir / "history.json", history)
    write_json(model_dir / "training.json", {"rows": len(rows), "excluded": len(excluded), "per_head": counts})
    write_csv(pd.concat(used, ignore_index=True)[["head", "split", "dialogue_id", "utterance_id", "label"]],
              model_dir / "training_rows.csv")
    write_csv(excluded, model_dir / "exclusions.csv")
    digest = checkpoint_sha256(model_dir)
    tracker.set_tag(run_id, CHECKPOINT_TAG, digest)
    seconds = time.monotonic() - started
    tracker.log_metrics(run_id, {"train_seconds": seconds, "train_rows": len(rows), "train_excluded": len(excluded)})
    tracker.finish(run_id)
    return {"run_id": run_id, "checkpoint_sha256": digest, "seconds": round(seconds, 1), **summary}


def _finetune_head(ser, spec, sub, label_set, classes, cfg, accelerator, logger, progress):
    from melt.data.audio import SAMPLE_RATE
    from melt.compute.backbones import load_backbone, load_waves

    waves = load_waves(sub["audio_path"], spec)
    y = np.array([classes.index(c) for c in sub[label_set]])
    backbone = load_backbone(spec, finetune=True)
    return finetune(backbone, waves, y, len(classes), cfg, int(round(ser.crop_s * SAMPLE_RATE)), accelerator,
                    logger, progress)
