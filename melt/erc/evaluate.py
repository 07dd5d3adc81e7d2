"""The `erc_evaluate@<dataset>` stage: the five models of a checkpoint on the test split.

`metrics/erc/<dataset>_<labels>.json`: {text_utt, text_dialogue, audio_utt, audio_dialogue, fusion} × {weighted_f1,
acc, uar} (melt.metrics; weighted F1 is ERC's usual metric); CMU-MOSI: × {acc2_has0, f1_has0, acc2_non0, f1_non0}
(binary accuracy and weighted F1, "has-0": every segment, a score ≥ 0 positive; "non-0": segments scored exactly 0
left out). Each model is scored on the labelled test turns it can see (a turn without audio has no audio
prediction; its fusion prediction comes from the text model, and the predictions file says so).
`reports/erc/<dataset>_<labels>/predictions.csv`: one row per test turn; `report.json`: rows scored per model,
classes, the epochs chosen on validation, and the chance baseline (always the majority training class). The scores are also logged to the MLflow run that trained the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from melt.erc.checkpoint import load_checkpoint
from melt.erc.dialogues import DialogueSet, load_dialogue_set
from melt.erc.inference import MODELS, predict_all
from melt.erc.params import ErcParams
from melt.io import write_csv, write_json
from melt.metrics import classification_metrics
from melt.ser.checkpoint import CHECKPOINT_TAG, checkpoint_sha256
from melt.tracking import Tracker, dvc_experiment, tracking_uri

MOSI = "cmumosi"


def score(dataset: str, truth: list[str], predicted: list[str], ratings: np.ndarray) -> dict[str, float]:
    """The metrics of one model on its scored turns (`ratings`: CMU-MOSI's sentiment scores of those turns)."""
    if dataset != MOSI:
        s = classification_metrics(truth, predicted, weighted_f1=True)
        return {"weighted_f1": s["f1_weighted"], "acc": s["acc"], "uar": s["uar"]}
    has0 = classification_metrics(truth, predicted, weighted_f1=True)
    non0 = np.asarray(ratings) != 0
    if not non0.any():
        raise ValueError("CMU-MOSI: every scored segment has sentiment 0: no non-0 scores")
    nz = classification_metrics([t for t, k in zip(truth, non0) if k], [p for p, k in zip(predicted, non0) if k],
                                weighted_f1=True)
    return {"acc2_has0": has0["acc"], "f1_has0": has0["f1_weighted"], "acc2_non0": nz["acc"],
            "f1_non0": nz["f1_weighted"]}


def majority_class(data: DialogueSet) -> str:
    """The most frequent training label (ties: the first class): the chance baseline of the report."""
    train = data.y[data.rows("train")]
    return data.classes[int(np.bincount(train[train >= 0], minlength=len(data.classes)).argmax())]


def predictions_table(data: DialogueSet, probs: dict[str, np.ndarray], source: list[str], split: str) -> pd.DataFrame:
    rows = data.rows(split)
    table = data.turns.iloc[rows][["dialogue_id", "turn", "item_id", "speaker", "label"]].reset_index(drop=True)
    for name in MODELS:
        p = probs[name][rows]
        table[name] = [data.classes[int(np.argmax(v))] if not np.isnan(v).any() else None for v in p]
    table["fusion_source"] = [source[i] for i in rows]
    table["fusion_confidence"] = [round(float(np.max(v)), 4) if not np.isnan(v).any() else None
                                  for v in probs["fusion"][rows]]
    return table


def evaluate(erc: ErcParams, dataset: str, model_dir: str | Path, tables_dir: str | Path,
             features_dirs: dict[str, str | Path], metrics_path: str | Path, report_dir: str | Path) -> dict:
    """Score the checkpoint on the test split; write the metrics, the predictions and the report."""
    config, models = load_checkpoint(model_dir)
    name = erc.model_name(dataset)
    if (config["dataset"], config["labels"]) != (dataset, erc.datasets[dataset]):
        raise ValueError(f"{model_dir}: checkpoint of {config['dataset']}_{config['labels']}, expected {name}")
    data, infos = load_dialogue_set(tables_dir, dataset, tuple(config["classes"]), features_dirs)
    for m in ("text", "audio"):
        if infos[m]["fingerprint"]["key"] != config["embeddings"][m]["fingerprint"]["key"]:
            raise ValueError(f"{model_dir}: trained on {m} embeddings {config['embeddings'][m]['fingerprint']['key']}, "
                             f"but {features_dirs[m]} holds {infos[m]['fingerprint']['key']} (re-run erc_train)")
    x = {m: data.modalities[m].x for m in ("text", "audio")}
    ok = {m: data.modalities[m].ok for m in ("text", "audio")}
    probs, source = predict_all(models, x, ok, data.dialogues)
    table = predictions_table(data, probs, source, "test")
    scores, rows = {}, {}
    for model in MODELS:
        scored = table[table["label"].notna() & table[model].notna()]
        if scored.empty:
            raise ValueError(f"{name}: no labelled test turn for {model}")
        ratings = data.turns.set_index("item_id").loc[scored["item_id"], "score"].to_numpy(dtype=float)
        scores[model] = score(dataset, list(scored["label"]), list(scored[model]), ratings)
        rows[model] = len(scored)
    report_dir = Path(report_dir)
    scored = table[table["label"].notna()]
    ratings = data.turns.set_index("item_id").loc[scored["item_id"], "score"].to_numpy(dtype=float)
    chance = score(dataset, list(scored["label"]), [majority_class(data)] * len(scored), ratings)
    write_json(metrics_path, scores)
    write_csv(table, report_dir / "predictions.csv")
    write_json(report_dir / "report.json", {"model": name, "classes": config["classes"], "rows_scored": rows,
                                            "test_turns": len(table), "chosen_epochs": config["chosen_epochs"],
                                            "chance_majority_class": {"class": majority_class(data), **chance},
                                            "fusion_sources": table["fusion_source"].value_counts().sort_index().to_dict()})
    _log_to_mlflow(erc, model_dir, name, scores)
    return scores


def _log_to_mlflow(erc: ErcParams, model_dir: str | Path, name: str, scores: dict) -> None:
    """Final scores into the run that trained this checkpoint (found by its content hash); in a store without it
    (a fresh clone, a checkpoint restored by DVC), a run rebuilt from the checkpoint takes them."""
    tracker = Tracker(tracking_uri(erc.mlflow_tracking_uri), erc.mlflow_experiment)
    digest = checkpoint_sha256(model_dir)
    run_id = tracker.find_run(CHECKPOINT_TAG, digest, prefer={"dvc_experiment": dvc_experiment()})
    if run_id is None:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
        params = {"dataset": config["dataset"], "labels": config["labels"], "dvc_experiment": dvc_experiment(),
                  **{k: v for k, v in config["hyperparameters"].items() if not isinstance(v, dict)}}
        run_id = tracker.start(name, params, tags={"stage": "erc_evaluate", "rebuilt_from_checkpoint": "true",
                                                   CHECKPOINT_TAG: digest})
        tracker.finish(run_id)
    tracker.log_metrics(run_id, {f"test_{model}_{metric}": value for model, s in scores.items()
                                 for metric, value in s.items()})
