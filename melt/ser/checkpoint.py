"""Checkpoints in `models/<backbone>/<labels>/`.

config.json             backbone name, spec (Hub id / folder, revision, loader), fingerprint, layers, dim,
                        label set, hyperparameters, heads: {target: {dir, classes}}, default head
heads/<head>/model.safetensors   head weights (layer weights, standardisation, MLP)
heads/<head>/label_map.json      class index → emotion
heads/<head>/backbone/           the fine-tuned backbone (ser.finetune only)
history.json            per-head per-epoch training loss
training.json           training rows per head and class; training_rows.csv: the utterances of every head
exclusions.csv          every training row left out, with its reason
Nothing run-dependent (MLflow run id, timings) is stored: the same params and inputs give the same bytes, and
`checkpoint_sha256` (a tag on the MLflow training run) finds the run that produced a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from melt.compute.heads import WeightedLayerHead
from melt.io import write_json

CONFIG = "config.json"


def save_head(model_dir: Path, head_name: str, head: WeightedLayerHead, classes: tuple[str, ...],
              backbone=None) -> str:
    folder = Path(model_dir) / "heads" / head_name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in head.state_dict().items()}, str(folder / "model.safetensors"))
    write_json(folder / "label_map.json", {str(i): c for i, c in enumerate(classes)})
    if backbone is not None:
        backbone.save_pretrained(folder / "backbone")
    return folder.relative_to(model_dir).as_posix()


def read_config(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a SER checkpoint (no {CONFIG}; run the ser stage)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_head(model_dir: str | Path, head_dir: str, config: dict) -> tuple[WeightedLayerHead, tuple[str, ...]]:
    folder = Path(model_dir) / head_dir
    label_map = json.loads((folder / "label_map.json").read_text(encoding="utf-8"))
    classes = tuple(label_map[str(i)] for i in range(len(label_map)))
    hp = config["hyperparameters"]
    head = WeightedLayerHead(config["layers"], config["dim"], hp["hidden_size"], len(classes), hp["dropout"])
    head.load_state_dict(load_file(str(folder / "model.safetensors")))
    return head.eval(), classes


def finetuned_backbone_dir(model_dir: str | Path, head_dir: str) -> Path:
    """The fine-tuned backbone saved beside a head; a clear error if the checkpoint lacks it."""
    folder = Path(model_dir) / head_dir / "backbone"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: missing; a fine-tuned checkpoint needs the backbone trained with its head")
    return folder
