"""Checkpoints `models/erc/<dataset>_<labels>/`:

config.json                 dataset, label set, classes, both embedding models (id / backbone, fingerprint,
                            layers × dim), hyperparameters, the epoch chosen per stage
stage1_{text,audio}.safetensors, stage2_{text,audio}.safetensors, stage3_fusion.safetensors
history.json                per stage: loss and validation weighted F1 per epoch
training.json               dialogues, turns and labelled turns per split and class
text_encoder/               with `erc.text_finetune` only: the fine-tuned text encoder and its tokenizer
                            (`save_pretrained`), whose fingerprint config.json records (embeddings.text.finetuned)
Nothing run-dependent (no MLflow run id, no timing): the same params and inputs give the same bytes;
`checkpoint_sha256` (melt.ser.checkpoint), a tag of the MLflow training run, finds the run of a checkpoint.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from safetensors.torch import load_file, save

from melt.erc.inference import ErcModels
from melt.erc.model import CoAttentionFusion, DialogueContext, UtteranceClassifier
from melt.io import TEMP_PREFIX, write_bytes, write_json

CONFIG = "config.json"
FILES = ("config.json", "history.json", "training.json", "stage1_text.safetensors", "stage1_audio.safetensors",
         "stage2_text.safetensors", "stage2_audio.safetensors", "stage3_fusion.safetensors")
TEXT_ENCODER = "text_encoder"


def _save(module, path: Path) -> None:
    write_bytes(path, save({k: v.detach().contiguous() for k, v in module.state_dict().items()}))   # atomic


def save_checkpoint(model_dir: str | Path, models: ErcModels, config: dict, history: dict, training: dict) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    for stale in model_dir.iterdir():   # exactly the files of this checkpoint
        if stale.name not in FILES and stale.is_file():
            stale.unlink()
    shutil.rmtree(model_dir / TEXT_ENCODER, ignore_errors=True)
    if models.text_encoder is not None:
        config["embeddings"]["text"]["finetuned"] = _save_text_encoder(model_dir / TEXT_ENCODER, *models.text_encoder,
                                                                      config["embeddings"]["text"]["model"])
    for m in ("text", "audio"):
        _save(models.utterance[m], model_dir / f"stage1_{m}.safetensors")
        _save(models.dialogue[m], model_dir / f"stage2_{m}.safetensors")
    _save(models.fusion, model_dir / "stage3_fusion.safetensors")
    write_json(model_dir / CONFIG, config)
    write_json(model_dir / "history.json", history)
    write_json(model_dir / "training.json", training)


def _save_text_encoder(out: Path, encoder, tokenizer, base: dict) -> dict:
    """save_pretrained through a temporary folder, each file written atomically; returns where it is (relative to the
    checkpoint) and the fingerprint it loads with."""
    from melt.erc.text import TextEncoder

    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=out) as tmp:
        encoder.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for path in sorted(Path(tmp).iterdir()):
            write_bytes(out / path.name, path.read_bytes())
    info = TextEncoder(str(out), None, base["max_length"]).info
    return {"path": TEXT_ENCODER, "fingerprint": {**info, "id": TEXT_ENCODER}}   # the id: not keyed, path-free


def text_encoder_dir(model_dir: str | Path, config: dict) -> Path | None:
    """The fine-tuned text encoder of a checkpoint (None: Stage I used the frozen `erc.text_model`)."""
    finetuned = config["embeddings"]["text"].get("finetuned")
    return Path(model_dir) / finetuned["path"] if finetuned else None


def read_config(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not an ERC checkpoint (no {CONFIG}; run the erc_train stage)")
    return json.loads(path.read_text(encoding="utf-8"))


def build_models(config: dict) -> ErcModels:
    """Modules with the checkpoint's shapes (random weights)."""
    hp, n = config["hyperparameters"], len(config["classes"])
    utterance, dialogue = {}, {}
    for m in ("text", "audio"):
        emb = config["embeddings"][m]
        utterance[m] = UtteranceClassifier(emb["layers"], emb["dim"], hp["utterance_hidden"], n, hp["dropout"])
        dialogue[m] = DialogueContext(hp["utterance_hidden"], hp["gru_hidden"], hp["gru_layers"], hp["heads"], n,
                                      hp["dropout"])
    width = 2 * hp["gru_hidden"]
    fusion = CoAttentionFusion(width, width, hp["fusion_hidden"], hp["heads"], n, hp["dropout"])
    return ErcModels(utterance, dialogue, fusion)


def load_checkpoint(model_dir: str | Path) -> tuple[dict, ErcModels]:
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    models = build_models(config)
    for m in ("text", "audio"):
        models.utterance[m].load_state_dict(load_file(str(model_dir / f"stage1_{m}.safetensors")))
        models.dialogue[m].load_state_dict(load_file(str(model_dir / f"stage2_{m}.safetensors")))
    models.fusion.load_state_dict(load_file(str(model_dir / "stage3_fusion.safetensors")))
    return config, models.eval()
