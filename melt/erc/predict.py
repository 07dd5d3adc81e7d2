"""Predict the emotion of every turn of one dialogue with a trained ERC checkpoint: `predict_dialogue`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from melt.erc.checkpoint import load_checkpoint, text_encoder_dir
from melt.erc.inference import predict_all


def _text_embeddings(model_dir: Path, config: dict,
                     texts: list[str | None]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    from melt.erc.text import TextEncoder

    emb = config["embeddings"]["text"]
    finetuned = text_encoder_dir(model_dir, config)
    model = emb["model"]
    encoder = TextEncoder(str(finetuned) if finetuned else model["id"], None if finetuned else model["revision"],
                          model["max_length"])
    expected = emb["finetuned"]["fingerprint"]["key"] if finetuned else emb["fingerprint"]["key"]
    if encoder.info["key"] != expected:
        raise ValueError(f"text model {finetuned or model['id']} now loads as {encoder.info['key']}, but the checkpoint "
                         f"was trained on {expected} (other weights or tokenizer)")
    x = np.zeros((len(texts), emb["layers"], emb["dim"]), dtype=np.float32)
    ok = np.zeros(len(texts), dtype=bool)
    reasons: list[str | None] = [None] * len(texts)
    for i, text in enumerate(texts):
        if isinstance(text, str) and text.strip():
            x[i], ok[i] = encoder.embed(text)[0], True
        else:
            reasons[i] = "text missing: no text" if text is None else "text missing: empty text"
    return x, ok, reasons


def _audio_embeddings(config: dict, paths: list[str | None]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    from melt.compute.extractors import SslExtractor, egemaps_vector
    from melt.compute.registry import EGEMAPS, BackboneSpec
    from melt.compute.store import FULL
    from melt.data.audio import AudioError

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
        for i in present:
            result = egemaps_vector(str(paths[i]))
            if isinstance(result, str):
                reasons[i] = result
            else:
                x[i], ok[i] = result[0], True
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

    turns: (audio path, text, speaker) per turn, in order; a turn's audio or text may be None. The speaker is not
        used by the model (no speaker identity, as in the paper).
    Returns one dict per turn, in order:
        label: the class predicted (the fusion model's, or the one modality's Stage II model), None when the turn has
            neither modality;
        probabilities: {class: probability} ({} when label is None);
        source: `fusion`, or `<which> (<why>)` when a modality is missing — `text only (audio missing: no path)`,
            `text only (audio missing: <path>)`, `text only (audio unreadable: <error>)`,
            `audio only (text missing: empty text)`, `none (text missing: no text; audio missing: no path)`.
    """
    if not turns:
        raise ValueError("predict_dialogue: a dialogue needs at least one turn")
    model_dir = Path(model_dir)
    config, models = load_checkpoint(model_dir)
    x_text, ok_text, text_reasons = _text_embeddings(model_dir, config, [t[1] for t in turns])
    x_audio, ok_audio, audio_reasons = _audio_embeddings(config, [t[0] for t in turns])
    probs, _ = predict_all(models, {"text": x_text, "audio": x_audio}, {"text": ok_text, "audio": ok_audio},
                           [np.arange(len(turns))])
    classes = config["classes"]
    out = []
    for i, p in enumerate(probs["fusion"]):
        if ok_text[i] and ok_audio[i]:
            source = "fusion"
        elif ok_text[i]:
            source = f"text only ({audio_reasons[i]})"
        elif ok_audio[i]:
            source = f"audio only ({text_reasons[i]})"
        else:
            source = f"none ({text_reasons[i]}; {audio_reasons[i]})"
        if np.isnan(p).any():
            out.append({"label": None, "probabilities": {}, "source": source})
        else:
            out.append({"label": classes[int(np.argmax(p))], "probabilities": {c: float(v) for c, v in zip(classes, p)},
                        "source": source})
    return out
