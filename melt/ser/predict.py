"""Predict the emotion of one WAV file with a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melt.ser.checkpoint import finetuned_backbone_dir, load_head, read_config
from melt.compute.registry import EGEMAPS, BackboneSpec


def predict_emotion(wav_path: str | Path, model_dir: str | Path, head: str | None = None) -> tuple[str, dict[str, float]]:
    """Emotion of the speech in `wav_path` and the probability of each class.

    model_dir: a checkpoint folder `models/<backbone>/<labels>/` written by the ser stage.
    head: which evaluation target's head to use (e.g. "iemocap" for its 4 classes); default: the in-domain
        head over all seven MELT emotions.
    The backbone is loaded from the checkpoint's spec (Hub id or local folder; a fine-tuned backbone from
    the checkpoint itself) and must be the one the head was trained on: its fingerprint is checked.
    Whole utterance, no cropping (the paper's test setting). Returns e.g. ("joy", {"anger": 0.01, ...}).
    """
    config = read_config(model_dir)
    target = head or config["default_head"]
    if target not in config["heads"]:
        raise ValueError(f"{model_dir}: no head {target!r} (heads: {', '.join(config['heads'])})")
    head_dir = config["heads"][target]["dir"]
    model, classes = load_head(model_dir, head_dir, config)
    spec = BackboneSpec(**config["spec"])
    probs = _probabilities(wav_path, config, spec, model, model_dir, head_dir)
    return classes[int(np.argmax(probs))], {c: float(p) for c, p in zip(classes, probs)}


def _probabilities(wav_path, config, spec, model, model_dir, head_dir) -> np.ndarray:
    from melt.data.audio import load_audio
    from melt.ser.training import predict_pooled, predict_waves

    if spec.id == EGEMAPS:
        from melt.compute.extractors import egemaps_vector

        result = egemaps_vector(str(wav_path))
        if isinstance(result, str):
            raise ValueError(f"{wav_path}: {result}")
        return predict_pooled(model, result[0])[0]

    from melt.compute.backbones import fingerprint, layer_means, load_backbone, normalize, wants_normalized_input

    normalized = wants_normalized_input(spec)
    wave = load_audio(wav_path)
    if normalized:
        wave = normalize(wave)
    if config["finetune"]:
        from melt.ser.model import FineTunedSer

        tuned = finetuned_backbone_dir(model_dir, head_dir)
        backbone = load_backbone(BackboneSpec(id=str(tuned), loader=spec.loader))
        return predict_waves(FineTunedSer(backbone, model), [wave])[0]
    backbone = load_backbone(spec)
    found = fingerprint(spec, backbone, normalized)["key"]
    if found != config["fingerprint"]["key"]:
        raise ValueError(f"{model_dir}: trained on backbone {spec.id} with fingerprint "
                         f"{config['fingerprint']['key']}, but {spec.id} now loads as {found} (other weights)")
    return predict_pooled(model, layer_means(backbone, wave)[None])[0]
