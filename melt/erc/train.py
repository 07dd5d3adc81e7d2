"""The `erc_train@<dataset>` stage: the three stages of one model → `models/erc/<dataset>_<labels>/`, logged to
MLflow (experiment `erc.mlflow_experiment`): params, per-epoch loss and validation weighted F1 of every stage,
the chosen epochs; the run is tagged with the checkpoint's content hash, which is how evaluation finds it."""

from __future__ import annotations

import time
from pathlib import Path

from melt.erc.checkpoint import save_checkpoint
from melt.erc.dialogues import DialogueSet, load_dialogue_set
from melt.erc.labels import classes as label_classes
from melt.erc.params import ErcParams
from melt.erc.training import train_hierarchy
from melt.tracking import CHECKPOINT_TAG, checkpoint_sha256
from melt.tracking import Tracker, dvc_experiment, git_revision, tracking_uri

HYPERPARAMETERS = ("utterance_hidden", "gru_hidden", "gru_layers", "heads", "fusion_hidden", "dropout", "seed",
                   "text_finetune", "text_encoder_lr")


def hyperparameters(erc: ErcParams) -> dict:
    hp = {k: getattr(erc, k) for k in HYPERPARAMETERS}
    for stage in ("stage1", "stage2", "stage3"):
        hp[stage] = getattr(erc, stage).model_dump()
    return hp


def training_counts(data: DialogueSet) -> dict:
    out = {}
    for split in ("train", "validation", "test"):
        rows = data.rows(split)
        labelled = data.y[rows][data.y[rows] >= 0]
        out[split] = {"dialogues": len(data.in_split(split)), "turns": len(rows), "labelled": len(labelled),
                      "classes": {c: int((labelled == i).sum()) for i, c in enumerate(data.classes)},
                      "missing": {m: int((~mod.ok[rows]).sum()) for m, mod in data.modalities.items()}}
    return out


def _rounded(history: dict) -> dict:
    return {stage: [{k: round(v, 6) if isinstance(v, float) else v for k, v in e.items()} for e in epochs]
            for stage, epochs in history.items()}


def run_params(erc: ErcParams, dataset: str, infos: dict) -> dict:
    flat = {"dataset": dataset, "labels": erc.datasets[dataset], "text_model": erc.text_model,
            "text_fingerprint": infos["text"]["fingerprint"]["key"], "speech_backbone": erc.speech_backbone,
            "speech_fingerprint": infos["audio"]["fingerprint"]["key"], "optimizer": "Adam",
            "git_revision": git_revision(), "dvc_experiment": dvc_experiment()}
    for k, v in hyperparameters(erc).items():
        if isinstance(v, dict):
            flat.update({f"{k}_{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


def train_model(erc: ErcParams, dataset: str, tables_dir: str | Path, features_dirs: dict[str, str | Path],
                model_dir: str | Path, progress: bool = True) -> dict:
    """Train and save one model; returns a summary for the log (with the MLflow run id and the seconds, which the
    checkpoint does not hold)."""
    started = time.monotonic()
    labels = erc.datasets[dataset]
    data, infos = load_dialogue_set(tables_dir, dataset, label_classes(dataset, labels), features_dirs)
    tracker = Tracker(tracking_uri(erc.mlflow_tracking_uri), erc.mlflow_experiment)
    run_id = tracker.start(erc.model_name(dataset), run_params(erc, dataset, infos), tags={"stage": "erc_train"})

    def log(stage: str, entry: dict) -> None:
        if progress:
            print(f"{stage} epoch {entry['epoch']}: loss {entry['loss']:.4f}, "
                  f"validation weighted F1 {entry['val_weighted_f1']:.4f}")

    try:
        models, history, chosen = train_hierarchy(data, erc, log, text_key=infos["text"]["fingerprint"]["key"])
    except BaseException:
        tracker.finish(run_id, "FAILED")
        raise
    config = {"dataset": dataset, "labels": labels, "classes": list(data.classes),
              "embeddings": {m: {k: infos[m][k] for k in ("model", "fingerprint", "layers", "dim")}
                             for m in ("text", "audio")},
              "hyperparameters": hyperparameters(erc), "chosen_epochs": chosen}
    save_checkpoint(model_dir, models, config, _rounded(history), training_counts(data))
    _log_history(tracker, run_id, history, chosen)
    digest = checkpoint_sha256(model_dir)
    tracker.set_tag(run_id, CHECKPOINT_TAG, digest)
    seconds = time.monotonic() - started
    tracker.log_metrics(run_id, {"train_seconds": seconds, "train_turns": int(len(data.rows("train")))})
    tracker.finish(run_id)
    best = {stage: round(history[stage][epoch]["val_weighted_f1"], 4) for stage, epoch in chosen.items()}
    return {"run_id": run_id, "checkpoint_sha256": digest, "seconds": round(seconds, 1), "chosen_epochs": chosen,
            "validation_weighted_f1": best, "turns": int(len(data.y)), "labelled": int((data.y >= 0).sum()),
            "dialogues": len(data.dialogues), "missing": {m: int((~mod.ok).sum()) for m, mod in data.modalities.items()}}


def _log_history(tracker: Tracker, run_id: str, history: dict, chosen: dict) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(f"{stage}_{key}", float(e[key]), now, e["epoch"])
               for stage, epochs in history.items() for e in epochs for key in ("loss", "val_weighted_f1")]
    metrics += [Metric(f"{stage}_chosen_epoch", float(epoch), now, 0) for stage, epoch in chosen.items()]
    for i in range(0, len(metrics), 1000):   # MLflow's batch limit
        tracker.client.log_batch(run_id, metrics=metrics[i:i + 1000])
