"""The `erc_evaluate@<dataset>` stage: the five models of a checkpoint on the test split, per evaluation protocol
(melt.erc.protocols: `all`, `melt_subset`).

`metrics/erc/<dataset>_<labels>.json`: {protocol: {text_utt, text_dialogue, audio_utt, audio_dialogue, fusion} ×
{weighted_f1, acc, uar}} (melt.metrics; weighted F1 is ERC's usual metric); CMU-MOSI: × {acc2_has0, f1_has0,
acc2_non0, f1_non0} (melt.metrics.mosi_binary). Each model is scored on the labelled test turns it can see (a turn
without audio has no audio prediction; its fusion prediction comes from the text model, and the predictions file
says so). `reports/erc/<dataset>_<labels>/predictions.csv`: one row per test turn (with its `subset`);
`report.json`: per protocol its description, rows scored per model and the chance baseline (always the majority
training class); classes, the epochs chosen on validation, and how many subset turns have no label. The scores are
also logged to the MLflow run that trained the checkpoint. A checkpoint whose Stage I fine-tuned the text encoder
is evaluated on that encoder's embeddings (computed here from `text_encoder/`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from melt.erc.checkpoint import load_checkpoint, text_encoder_dir
from melt.erc.dialogues import DialogueSet, load_dialogue_set
from melt.erc.inference import predict_all
from melt.erc.params import ErcParams
from melt.erc.names import MODELS, MOSI
from melt.erc.protocols import describe, protocol_rows
from melt.io import write_csv, write_json
from melt.metrics import classification_metrics, mosi_binary
from melt.tracking import CHECKPOINT_TAG, checkpoint_sha256
from melt.tracking import Tracker, dvc_experiment, tracking_uri


def score(dataset: str, truth: list[str], predicted: list[str], ratings: np.ndarray) -> dict[str, float]:
    """The metrics of one model on its scored turns (`ratings`: CMU-MOSI's sentiment scores of those turns)."""
    if dataset == MOSI:
        return mosi_binary(ratings, [p == "positive" for p in predicted])
    s = classification_metrics(truth, predicted, weighted_f1=True)
    return {"weighted_f1": s["f1_weighted"], "acc": s["acc"], "uar": s["uar"]}


def majority_class(data: DialogueSet) -> str:
    """The most frequent training label (ties: the first class): the chance baseline of the report."""
    train = data.y[data.rows("train")]
    return data.classes[int(np.bincount(train[train >= 0], minlength=len(data.classes)).argmax())]


def predictions_table(data: DialogueSet, probs: dict[str, np.ndarray], source: list[str], split: str) -> pd.DataFrame:
    rows = data.rows(split)
    table = data.turns.iloc[rows][["dialogue_id", "turn", "item_id", "speaker", "subset", "label"]]
    table = table.reset_index(drop=True)
    for name in MODELS:
        p = probs[name][rows]
        table[name] = [data.classes[int(np.argmax(v))] if not np.isnan(v).any() else None for v in p]
    table["fusion_source"] = [source[i] for i in rows]
    table["fusion_confidence"] = [round(float(np.max(v)), 4) if not np.isnan(v).any() else None
                                  for v in probs["fusion"][rows]]
    return table


def finetuned_text(model_dir: str | Path, config: dict, data: DialogueSet, split: str) -> None:
    """Replace `data`'s text embeddings, on the dialogues of `split`, by those of the checkpoint's fine-tuned
    encoder (one utterance at a time, as in training); other rows become unavailable."""
    from melt.erc.dialogues import Modality
    from melt.erc.finetune import embed_all
    from melt.erc.text import TextEncoder

    expected = config["embeddings"]["text"]["finetuned"]["fingerprint"]["key"]
    max_length = config["embeddings"]["text"]["model"]["max_length"]
    encoder = TextEncoder(str(text_encoder_dir(model_dir, config)), None, max_length)
    if encoder.info["key"] != expected:
        raise ValueError(f"{model_dir}: its text_encoder/ loads as {encoder.info['key']}, not the {expected} it was "
                         "trained as (re-run erc_train)")
    mod = data.modalities["text"]
    ok = mod.ok & np.isin(np.arange(len(data.y)), np.concatenate([data.dialogues[k] for k in data.in_split(split)]))
    x = embed_all(encoder.model, encoder.tokenizer, list(data.turns["text"]), ok, encoder.max_length, encoder.dim)
    data.modalities["text"] = Modality(x, ok, mod.reason)


def score_protocol(dataset: str, table: pd.DataFrame, ratings: pd.Series, name: str) -> tuple[dict, dict]:
    """(scores per model, rows scored per model) on the `table` rows of one protocol."""
    scores, rows = {}, {}
    for model in MODELS:
        scored = table[table[model].notna()]
        if scored.empty:
            raise ValueError(f"{name}: no labelled test turn for {model}")
        scores[model] = score(dataset, list(scored["label"]), list(scored[model]),
                              ratings.loc[scored["item_id"]].to_numpy(dtype=float))
        rows[model] = len(scored)
    return scores, rows


def evaluate(erc: ErcParams, dataset: str, model_dir: str | Path, tables_dir: str | Path,
             features_dirs: dict[str, str | Path], metrics_path: str | Path, report_dir: str | Path) -> dict:
    """Score the checkpoint on the test split under each protocol; write the metrics, the predictions and the
    report; returns {protocol: {model: scores}}."""
    config, models = load_checkpoint(model_dir)
    name, labels = erc.model_name(dataset), erc.datasets[dataset]
    if (config["dataset"], config["labels"]) != (dataset, labels):
        raise ValueError(f"{model_dir}: checkpoint of {config['dataset']}_{config['labels']}, expected {name}")
    data, infos = load_dialogue_set(tables_dir, dataset, tuple(config["classes"]), features_dirs)
    for m in ("text", "audio"):
        if infos[m]["fingerprint"]["key"] != config["embeddings"][m]["fingerprint"]["key"]:
            raise ValueError(f"{model_dir}: trained on {m} embeddings {config['embeddings'][m]['fingerprint']['key']}, "
                             f"but {features_dirs[m]} holds {infos[m]['fingerprint']['key']} (re-run erc_train)")
    if text_encoder_dir(model_dir, config) is not None:
        finetuned_text(model_dir, config, data, "test")
    x = {m: data.modalities[m].x for m in ("text", "audio")}
    ok = {m: data.modalities[m].ok for m in ("text", "audio")}
    probs, source = predict_all(models, x, ok, data.dialogues)
    table = predictions_table(data, probs, source, "test")
    ratings = data.turns.set_index("item_id")["score"]
    majority = majority_class(data)
    metrics, protocols = {}, {}
    for protocol, mask in protocol_rows(labels, table).items():
        part = table[mask]
        if part.empty:
            raise ValueError(f"{name}: no labelled test turn in protocol {protocol!r}")
        metrics[protocol], rows = score_protocol(dataset, part, ratings, name)
        chance = score(dataset, list(part["label"]), [majority] * len(part),
                       ratings.loc[part["item_id"]].to_numpy(dtype=float))
        protocols[protocol] = {"description": describe(dataset, labels, protocol, erc), "labelled_turns": len(part),
                               "rows_scored": rows, "chance_majority_class": {"class": majority, **chance}}
    unlabelled = table[table["label"].isna() & table["subset"].notna()]
    write_json(metrics_path, metrics)
    report_dir = Path(report_dir)
    write_csv(table, report_dir / "predictions.csv")
    write_json(report_dir / "report.json", {
        "model": name, "classes": config["classes"], "test_turns": len(table), "protocols": protocols,
        "subset_turns_without_label": unlabelled["subset"].value_counts().sort_index().to_dict(),
        "chosen_epochs": config["chosen_epochs"],
        "fusion_sources": table["fusion_source"].value_counts().sort_index().to_dict()})
    _log_to_mlflow(erc, model_dir, name, metrics)
    return metrics


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
    tracker.log_metrics(run_id, {f"test_{protocol}_{model}_{metric}": value for protocol, models in scores.items()
                                 for model, s in models.items() for metric, value in s.items() if value is not None})
