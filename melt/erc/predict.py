"""Predict the emotion of every turn of one dialogue with a trained ERC checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from melt.erc.checkpoint import load_checkpoint
from melt.erc.inference import predict_all


def _text_embeddings(config: dict, texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    from melt.erc.text import TextEncoder

    emb = config["embeddings"]["text"]
    model = emb["model"]
    encoder = TextEncoder(model["id"], model["revision"], model["max_length"])
    if encoder.info["key"] != emb["fingerprint"]["key"]:
        raise ValueError(f"text model {model['id']} now loads as {encoder.info['key']}, but the checkpoint was "
                         f"trained on {emb['fingerprint']['key']} (other weights or tokenizer)")
    x = np.zeros((len(texts), emb["layers"], emb["dim"]), dtype=np.float32)
    ok = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if isinstance(text, str) and text.strip():
            x[i], ok[i] = encoder.embed(text)[0], True
    return x, ok


def _audio_embeddings(config: dict, paths: list[str | None]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    from melt.data.audio import AudioError
    from melt.ser.cache import FULL
    from melt.ser.features import EgemapsExtractor, SslExtractor
    from melt.ser.registry import EGEMAPS, BackboneSpec

    emb = config["embeddings"]["audio"]
    spec = BackboneSpec(**emb["model"]["spec"])
    x = np.zeros((len(paths), emb["layers"], emb["dim"]), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    reasons: list[str | None] = [None] * len(paths)
    present = []
    for i, path in enumerate(paths):
        if not path or not Path(path).is_file():
            reasons[i] = f"audio missing: {path}" if path else "audio missing: no path"
        else:
            present.append(i)
    if spec.id == EGEMAPS:
        results = EgemapsExtractor(workers=1).compute_many([(str(paths[i]), str(i)) for i in present])
        for i in present:
            if isinstance(results[str(i)], str):
                reasons[i] = results[str(i)]
            else:
                x[i], ok[i] = results[str(i)][0], True
        return x, ok, reasons
    extractor = SslExtractor(spec)
    if extractor.info["key"] != emb["fingerprint"]["key"]:
        raise ValueError(f"backbone {spec.id} now loads as {extractor.info['key']}, but the checkpoint was trained "
                         f"on {emb['fingerprint']['key']} (other weights)")
    for i in present:
        try:
            x[i], ok[i] = extractor.compute(str(paths[i]), "", FULL, 0, 1)[0], True
        except (AudioError, RuntimeError) as err:
            reasons[i] = f"audio unreadable: {err}"
    return x, ok, reasons


def predict_dialogue(turns: Sequence[tuple[str | None, str | None, str | None]], model_dir: str | Path) -> list[dict]:
    """Emotion of every turn of a dialogue.

    turns: (audio path, text, speaker) per turn, in order (the speaker is not used by the model; a turn's audio or
        text may be None or missing).
    Returns one dict per turn: `label` (the fusion model's class), `probabilities` ({class: p}), `source` (`fusion`,
    or `text only: audio missing: <path>` when a turn has one modality, or `none: ...` when it has neither).
    """
    if not turns:
        raise ValueError("predict_dialogue: a dialogue needs at least one turn")
    config, models = load_checkpoint(model_dir)
    x_text, ok_text = _text_embeddings(config, [t[1] for t in turns])
    x_audio, ok_audio, reasons = _audio_embeddings(config, [t[0] for t in turns])
    probs, source = predict_all(models, {"text": x_text, "audio": x_audio}, {"text": ok_text, "audio": ok_audio},
                                [np.arange(len(turns))])
    classes = config["classes"]
    out = []
    for i, p in enumerate(probs["fusion"]):
        why = source[i] if reasons[i] is None or source[i] == "fusion" else f"{source[i].split(':')[0]} ({reasons[i]})"
        if np.isnan(p).any():
            out.append({"label": None, "probabilities": {}, "source": why})
        else:
            out.append({"label": classes[int(np.argmax(p))], "probabilities": {c: float(v) for c, v in zip(classes, p)},
                        "source": why})
    return out
