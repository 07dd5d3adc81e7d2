"""Forward passes of the three stages over whole datasets, and the dialogue batches they share with training.

Every function returns per-turn outputs aligned with the dataset's rows; a turn a model cannot see (its modality
is missing) gets zeros as representation and NaN as probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from melt.erc.model import CoAttentionFusion, DialogueContext, UtteranceClassifier
from melt.erc.names import MODELS
INFERENCE_BATCH = 64   # dialogues per forward pass when nothing is trained


@dataclass
class ErcModels:
    utterance: dict[str, UtteranceClassifier]   # Stage I per modality
    dialogue: dict[str, DialogueContext]        # Stage II per modality
    fusion: CoAttentionFusion                   # Stage III
    text_encoder: tuple | None = None           # (encoder, tokenizer) fine-tuned at Stage I (erc.text_finetune)

    def eval(self) -> "ErcModels":
        for m in (*self.utterance.values(), *self.dialogue.values(), self.fusion):
            m.eval()
        return self


def sequences(dialogues: list[np.ndarray], ok: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) row index per step (-1 = padding) and (B,) lengths of the dialogues' turns that have the modality
    (a missing turn is left out of the sequence, like padding); dialogues with none are skipped."""
    seqs = [d[ok[d]] for d in dialogues]
    seqs = [s for s in seqs if len(s)]
    steps = max((len(s) for s in seqs), default=0)
    index = torch.full((len(seqs), steps), -1, dtype=torch.long)
    for b, s in enumerate(seqs):
        index[b, :len(s)] = torch.from_numpy(s)
    return index, torch.tensor([len(s) for s in seqs], dtype=torch.long)


def gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(N, d) per-row values → (B, T, d) by a (B, T) index, zeros at padding."""
    out = values[index.clamp_min(0)]
    return out.masked_fill((index < 0)[..., None], 0.0)


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _nan(n: int, classes: int) -> np.ndarray:
    return np.full((n, classes), np.nan, dtype=np.float32)


def _device(model: torch.nn.Module) -> torch.device:
    """Inputs go where the model is (the GPU while training with erc.device: auto/cuda); outputs come back to the
    CPU, where the per-turn arrays live."""
    return next(model.parameters()).device


@torch.no_grad()
def utterance_outputs(model: UtteranceClassifier, x: np.ndarray, ok: np.ndarray,
                      chunk: int = 1024) -> tuple[torch.Tensor, np.ndarray]:
    """Stage I representations (N, hidden) and probabilities (N, classes)."""
    model.eval()
    reps = torch.zeros(len(x), model.hidden_size)
    probs = _nan(len(x), model.mlp[-1].out_features)
    rows = np.flatnonzero(ok)
    for part in batches(list(rows), chunk):
        h = model.represent(torch.from_numpy(x[part]).to(_device(model)))
        reps[part] = h.cpu()
        probs[part] = torch.softmax(model.mlp[3](h), dim=-1).cpu().numpy()
    return reps, probs


@torch.no_grad()
def dialogue_outputs(model: DialogueContext, reps: torch.Tensor, ok: np.ndarray,
                     dialogues: list[np.ndarray]) -> tuple[torch.Tensor, np.ndarray]:
    """Stage II contextual representations (N, 2 × hidden) and probabilities (N, classes)."""
    model.eval()
    ctx = torch.zeros(len(reps), model.output_size)
    probs = _nan(len(reps), model.out.out_features)
    for part in batches(dialogues, INFERENCE_BATCH):
        index, lengths = sequences(part, ok)
        if not len(lengths):
            continue
        h = model.represent(gather(reps, index).to(_device(model)), lengths).cpu()
        real = index >= 0
        ctx[index[real]] = h[real]
        probs[index[real].numpy()] = torch.softmax(model.out(h[real].to(_device(model))), dim=-1).cpu().numpy()
    return ctx, probs


def fusion_batch(ctx: dict[str, torch.Tensor], ok: dict[str, np.ndarray], part: list[np.ndarray]):
    """Inputs of Stage III for some dialogues: all their turns, padded; (index, text, audio, text_ok, audio_ok)."""
    index, _ = sequences(part, np.ones(len(ctx["text"]), dtype=bool))
    real = index >= 0
    avail = {m: torch.from_numpy(ok[m])[index.clamp_min(0)] & real for m in ("text", "audio")}
    return index, gather(ctx["text"], index), gather(ctx["audio"], index), avail["text"], avail["audio"]


@torch.no_grad()
def fusion_outputs(model: CoAttentionFusion, ctx: dict[str, torch.Tensor], ok: dict[str, np.ndarray],
                   dialogues: list[np.ndarray]) -> np.ndarray:
    """Stage III probabilities (N, classes); NaN where a turn lacks either modality."""
    model.eval()
    probs = _nan(len(ctx["text"]), model.mlp[-1].out_features)
    for part in batches(dialogues, INFERENCE_BATCH):
        index, text, audio, text_ok, audio_ok = fusion_batch(ctx, ok, part)
        both = text_ok & audio_ok
        if both.any():
            dev = _device(model)
            logits = model(text.to(dev), audio.to(dev), text_ok.to(dev), audio_ok.to(dev)).cpu()
            probs[index[both].numpy()] = torch.softmax(logits[both], dim=-1).numpy()
    return probs


def predict_all(models: ErcModels, x: dict[str, np.ndarray], ok: dict[str, np.ndarray],
                dialogues: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Probabilities of the five models per turn, and where each fusion prediction comes from: `fusion`, or the
    Stage II model of the one modality a turn has (`text only: audio missing`, ...), or `none`."""
    models.eval()
    out, ctx = {}, {}
    for m in ("text", "audio"):
        reps, out[f"{m}_utt"] = utterance_outputs(models.utterance[m], x[m], ok[m])
        ctx[m], out[f"{m}_dialogue"] = dialogue_outputs(models.dialogue[m], reps, ok[m], dialogues)
    fused = fusion_outputs(models.fusion, ctx, ok, dialogues)
    source = []
    for i in range(len(fused)):
        if ok["text"][i] and ok["audio"][i]:
            source.append("fusion")
        elif ok["text"][i]:
            fused[i] = out["text_dialogue"][i]
            source.append("text only: audio missing")
        elif ok["audio"][i]:
            fused[i] = out["audio_dialogue"][i]
            source.append("audio only: text missing")
        else:
            source.append("none: no modality")
    out["fusion"] = fused
    return out, source
