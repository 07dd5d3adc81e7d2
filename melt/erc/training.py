"""Hierarchical training: Stage I per modality, Stage II per modality on frozen Stage I representations, Stage III
on frozen Stage II representations. Each stage keeps the epoch with the best weighted F1 on the validation split
(ties: the earlier epoch); the test split is never used. Seeded and single-threaded on the CPU: the same data and
params give bit-identical weights. `erc.device` places the training (`auto`: the GPU when present); the trained
models come back to the CPU, where the next stage's inputs are computed and the checkpoint is written."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from melt.compute.device import resolve_device
from melt.erc.dialogues import DialogueSet
from melt.erc.inference import (ErcModels, batches, dialogue_outputs, fusion_batch, fusion_outputs, gather,
                                sequences, utterance_outputs)
from melt.erc.model import CoAttentionFusion, DialogueContext, UtteranceClassifier
from melt.erc.params import ErcParams, Schedule
from melt.metrics import classification_metrics

EpochLog = Callable[[str, dict], None]   # (stage name, {"epoch", "loss", "val_weighted_f1"})
STAGES = ("stage1_text", "stage1_audio", "stage2_text", "stage2_audio", "stage3_fusion")


def weighted_f1(y: np.ndarray, probs: np.ndarray, rows: np.ndarray, classes: tuple[str, ...], where: str) -> float:
    """Weighted F1 of the argmax predictions on `rows` (labelled rows the model predicts)."""
    rows = rows[(y[rows] >= 0) & ~np.isnan(probs[rows]).any(axis=1)]
    if not len(rows):
        raise ValueError(f"{where}: no labelled validation turn to choose an epoch on")
    truth = [classes[i] for i in y[rows]]
    predicted = [classes[i] for i in probs[rows].argmax(axis=1)]
    return classification_metrics(truth, predicted, weighted_f1=True, digits=None)["f1_weighted"]


def training_device(erc: ErcParams) -> str:
    return resolve_device(erc.device, "erc.device")


def fit(model: torch.nn.Module, epoch_batches: Callable[[torch.Generator], Iterator], validate: Callable[[], float],
        schedule: Schedule, seed: int, name: str, log: EpochLog | None = None,
        param_groups: list[dict] | None = None, device: str = "cpu") -> tuple[list[dict], int]:
    """Adam on cross-entropy (all parameters at `schedule.lr`, or `param_groups` with their own rates) on `device`;
    returns the history and the chosen epoch (its weights are loaded into `model`, which ends on the CPU).
    `epoch_batches` yields (logits, target) computed by `model` (on `device`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # small matmuls: threads cost more than they save (2x slower with 2); also bit-stable
    model.to(device)
    try:
        optimizer = torch.optim.Adam(param_groups or model.parameters(), lr=schedule.lr)
        return _fit(model, optimizer, epoch_batches, validate, schedule, seed, name, log)
    finally:
        model.cpu()
        torch.set_num_threads(threads)


def _fit(model, optimizer, epoch_batches, validate, schedule, seed, name, log):
    generator = torch.Generator().manual_seed(seed)
    history, best = [], (-1.0, -1, None)
    for epoch in range(schedule.epochs):
        model.train()
        total, count = 0.0, 0
        for logits, target in epoch_batches(generator):
            loss = F.cross_entropy(logits, target.to(logits.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(target)
            count += len(target)
        model.eval()
        score = validate()
        history.append({"epoch": epoch, "loss": total / max(count, 1), "val_weighted_f1": score})
        if log:
            log(name, history[-1])
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    model.eval()
    return history, best[1]


def _train_dialogues(data: DialogueSet) -> list[np.ndarray]:
    return [data.dialogues[k] for k in data.in_split("train")]


def _order(dialogues: list[np.ndarray], generator: torch.Generator) -> list[np.ndarray]:
    return [dialogues[i] for i in torch.randperm(len(dialogues), generator=generator).tolist()]


def train_utterance(data: DialogueSet, modality: str, erc: ErcParams, log: EpochLog | None = None):
    """Stage I on the labelled training turns that have the modality."""
    mod = data.modalities[modality]
    train = _train_dialogues(data)
    labelled = (data.y >= 0) & mod.ok
    torch.manual_seed(erc.seed)
    _, layers, dim = mod.x.shape
    model = UtteranceClassifier(layers, dim, erc.utterance_hidden, len(data.classes), erc.dropout)
    train_rows = data.rows("train")[mod.ok[data.rows("train")]]
    if not len(train_rows):
        reasons = sorted({r for r in mod.reason if r})
        raise ValueError(f"no training turn has a {modality} embedding (e.g. {reasons[0] if reasons else 'none'}): "
                         f"the three stages need both modalities")
    stats = torch.from_numpy(mod.x[train_rows]).double()
    model.set_standardization(stats.mean(0).float(), stats.std(0, unbiased=False).float())
    x, y = torch.from_numpy(mod.x), torch.from_numpy(data.y)
    val = data.rows("validation")
    device = training_device(erc)

    def epoch_batches(generator):
        for part in batches(_order(train, generator), erc.stage1.batch_dialogues):
            rows = np.concatenate(part)
            rows = rows[labelled[rows]]
            if len(rows):
                yield model(x[rows].to(device)), y[rows]

    def validate():
        probs = np.full((len(data.y), len(data.classes)), np.nan, dtype=np.float32)
        probs[val] = utterance_outputs(model, mod.x[val], mod.ok[val])[1]
        return weighted_f1(data.y, probs, val, data.classes, f"stage I ({modality})")

    history, epoch = fit(model, epoch_batches, validate, erc.stage1, erc.seed, f"stage1_{modality}", log,
                         device=device)
    return model, history, epoch


def train_dialogue(data: DialogueSet, modality: str, reps: torch.Tensor, erc: ErcParams, log: EpochLog | None = None):
    """Stage II on frozen Stage I representations; the loss covers the labelled turns, all turns are context."""
    ok = data.modalities[modality].ok
    train = _train_dialogues(data)
    val_dialogues = [data.dialogues[k] for k in data.in_split("validation")]
    torch.manual_seed(erc.seed)
    model = DialogueContext(reps.shape[1], erc.gru_hidden, erc.gru_layers, erc.heads, len(data.classes), erc.dropout)
    y = torch.from_numpy(data.y)
    device = training_device(erc)

    def epoch_batches(generator):
        for part in batches(_order(train, generator), erc.stage2.batch_dialogues):
            index, lengths = sequences(part, ok)
            if not len(lengths):
                continue
            logits = model(gather(reps, index).to(device), lengths)
            target = torch.where(index >= 0, y[index.clamp_min(0)], -1)
            scored = target >= 0
            if scored.any():
                yield logits[scored.to(device)], target[scored]

    def validate():
        probs = dialogue_outputs(model, reps, ok, val_dialogues)[1]
        return weighted_f1(data.y, probs, data.rows("validation"), data.classes, f"stage II ({modality})")

    history, epoch = fit(model, epoch_batches, validate, erc.stage2, erc.seed, f"stage2_{modality}", log,
                         device=device)
    return model, history, epoch


def train_fusion(data: DialogueSet, ctx: dict[str, torch.Tensor], erc: ErcParams, log: EpochLog | None = None):
    """Stage III on frozen Stage II representations; the loss covers labelled turns that have both modalities."""
    ok = {m: data.modalities[m].ok for m in ("text", "audio")}
    train = _train_dialogues(data)
    val_dialogues = [data.dialogues[k] for k in data.in_split("validation")]
    torch.manual_seed(erc.seed)
    model = CoAttentionFusion(ctx["text"].shape[1], ctx["audio"].shape[1], erc.fusion_hidden, erc.heads,
                              len(data.classes), erc.dropout)
    y = torch.from_numpy(data.y)
    device = training_device(erc)

    def epoch_batches(generator):
        for part in batches(_order(train, generator), erc.stage3.batch_dialogues):
            index, text, audio, text_ok, audio_ok = fusion_batch(ctx, ok, part)
            target = torch.where(index >= 0, y[index.clamp_min(0)], -1)
            scored = text_ok & audio_ok & (target >= 0)
            if scored.any():
                logits = model(text.to(device), audio.to(device), text_ok.to(device), audio_ok.to(device))
                yield logits[scored.to(device)], target[scored]

    def validate():
        probs = fusion_outputs(model, ctx, ok, val_dialogues)
        return weighted_f1(data.y, probs, data.rows("validation"), data.classes, "stage III (fusion)")

    history, epoch = fit(model, epoch_batches, validate, erc.stage3, erc.seed, "stage3_fusion", log, device=device)
    return model, history, epoch


def train_hierarchy(data: DialogueSet, erc: ErcParams, log: EpochLog | None = None,
                    text_key: str | None = None) -> tuple[ErcModels, dict, dict]:
    """All three stages; returns (models, history per stage, chosen epoch per stage). With `erc.text_finetune`,
    Stage I text fine-tunes the encoder (melt.erc.finetune; `text_key`: the fingerprint key of the cached text
    embeddings, which must be that encoder's), `data`'s text embeddings become the fine-tuned encoder's and
    `models.text_encoder` holds (encoder, tokenizer)."""
    history, chosen, utterance, dialogue, ctx = {}, {}, {}, {}, {}
    text_encoder = None
    for m in ("text", "audio"):
        if m == "text" and erc.text_finetune:
            from melt.erc.finetune import finetune_text

            utterance[m], history["stage1_text"], chosen["stage1_text"], *text_encoder = finetune_text(
                data, erc, text_key, log)
        else:
            utterance[m], history[f"stage1_{m}"], chosen[f"stage1_{m}"] = train_utterance(data, m, erc, log)
        reps, _ = utterance_outputs(utterance[m], data.modalities[m].x, data.modalities[m].ok)
        dialogue[m], history[f"stage2_{m}"], chosen[f"stage2_{m}"] = train_dialogue(data, m, reps, erc, log)
        ctx[m], _ = dialogue_outputs(dialogue[m], reps, data.modalities[m].ok, data.dialogues)
    fusion, history["stage3_fusion"], chosen["stage3_fusion"] = train_fusion(data, ctx, erc, log)
    return ErcModels(utterance, dialogue, fusion, tuple(text_encoder) if text_encoder else None), history, chosen
