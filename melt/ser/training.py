"""Seeded, deterministic training of heads: on cached features (frozen backbone) or end to end (fine-tuning).

`accelerate` places the work: GPU when present, data-parallel under `accelerate launch`, CPU otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from melt.ser.data import Arrays
from melt.compute.heads import WeightedLayerHead
from melt.ser.model import FineTunedSer

EpochCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class HeadConfig:
    hidden_size: int = 256
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 100
    seed: int = 0


def make_accelerator(device: str = "auto"):
    """accelerate's Accelerator on `ser.device` (`auto`: the GPU when present)."""
    from accelerate import Accelerator

    from melt.compute.device import resolve_device

    return Accelerator(cpu=resolve_device(device, "ser.device") == "cpu")


def _shard(perm: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    usable = len(perm) - len(perm) % world if world > 1 else len(perm)  # equal batches per process
    return perm[:usable][rank::world]


def train_head(data: Arrays, n_classes: int, cfg: HeadConfig, standardize: bool = False, accelerator=None,
               on_epoch: EpochCallback | None = None, progress: bool = False) -> tuple[WeightedLayerHead, list[float]]:
    """Train a WeightedLayerHead on cached per-layer pooled vectors; one cached crop is drawn per epoch."""
    accelerator = accelerator or make_accelerator()
    threads = torch.get_num_threads()
    if accelerator.device.type == "cpu":
        # Head batches are tiny matmuls: thread hand-offs cost more than they save (3-10x slower with 2
        # threads on a shared 2-core machine, measured).
        torch.set_num_threads(1)
    try:
        return _train_head(data, n_classes, cfg, standardize, accelerator, on_epoch, progress)
    finally:
        torch.set_num_threads(threads)


def _train_head(data, n_classes, cfg, standardize, accelerator, on_epoch, progress):
    torch.manual_seed(cfg.seed)
    x, n_crops, y = torch.from_numpy(data.x), torch.from_numpy(data.n_crops), torch.from_numpy(data.y).long()
    _, _, layers, dim = x.shape
    head = WeightedLayerHead(layers, dim, cfg.hidden_size, n_classes, cfg.dropout)
    if standardize:
        first = x[:, 0].double()
        head.set_standardization(first.mean(0).float(), first.std(0, unbiased=False).float())
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    model, optimizer = accelerator.prepare(head, optimizer)
    generator = torch.Generator().manual_seed(cfg.seed)
    device = accelerator.device

    def epoch_batches():
        perm = torch.randperm(len(y), generator=generator)
        crop = (torch.rand(len(y), generator=generator) * n_crops).long()
        for batch in _shard(perm, accelerator.process_index, accelerator.num_processes).split(cfg.batch_size):
            yield (x[batch, crop[batch]].to(device),), y[batch].to(device)

    history = _fit(model, optimizer, accelerator, cfg.epochs, epoch_batches, on_epoch, progress)
    return accelerator.unwrap_model(model).eval().cpu(), history


def _fit(model, optimizer, accelerator, epochs: int, epoch_batches, on_epoch: EpochCallback | None,
         progress: bool) -> list[float]:
    """The loop both trainers share: ``epoch_batches()`` yields (model inputs, targets) for one epoch."""
    history = []
    for epoch in tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress):
        model.train()
        total, count = 0.0, 0
        for inputs, target in epoch_batches():
            loss = F.cross_entropy(model(*inputs), target)
            optimizer.zero_grad()
            accelerator.backward(loss)
            optimizer.step()
            total += loss.item() * len(target)
            count += len(target)
        history.append(total / max(count, 1))
        if on_epoch:
            on_epoch(epoch, history[-1])
    return history


@torch.inference_mode()
def predict_pooled(head: WeightedLayerHead, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, layers, dim) pooled vectors → (N, classes) probabilities."""
    head.eval()
    out = [torch.softmax(head(torch.from_numpy(x[i:i + batch_size])), dim=-1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, head.mlp[-1].out_features), dtype=np.float32)


def _pad(waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, :len(w)] = torch.from_numpy(w)
    return batch, lengths


def finetune(backbone, waves: list[np.ndarray], y: np.ndarray, n_classes: int, cfg: HeadConfig, crop_samples: int,
             accelerator=None, on_epoch: EpochCallback | None = None,
             progress: bool = False) -> tuple[FineTunedSer, list[float]]:
    """Fine-tune backbone + head; every epoch draws a fresh random crop (the paper's augmentation)."""
    accelerator = accelerator or make_accelerator()
    torch.manual_seed(cfg.seed)
    layers, dim = backbone.config.num_hidden_layers + 1, backbone.config.hidden_size
    model = FineTunedSer(backbone, WeightedLayerHead(layers, dim, cfg.hidden_size, n_classes, cfg.dropout))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    model, optimizer = accelerator.prepare(model, optimizer)
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    labels = torch.from_numpy(y).long()
    device = accelerator.device

    def epoch_batches():
        perm = torch.randperm(len(waves), generator=generator)
        for batch in _shard(perm, accelerator.process_index, accelerator.num_processes).split(cfg.batch_size):
            crops = []
            for i in batch.tolist():
                w = waves[i]
                start = int(rng.integers(0, len(w) - crop_samples + 1)) if len(w) > crop_samples else 0
                crops.append(w[start:start + crop_samples])
            xb, lengths = _pad(crops)
            yield (xb.to(device), lengths.to(device)), labels[batch].to(device)

    history = _fit(model, optimizer, accelerator, cfg.epochs, epoch_batches, on_epoch, progress)
    return accelerator.unwrap_model(model).eval().cpu(), history


@torch.inference_mode()
def predict_waves(model: FineTunedSer, waves: list[np.ndarray]) -> np.ndarray:
    """Whole utterances, batch 1 (the paper's test setting) → (N, classes) probabilities."""
    model.eval()
    out = []
    for w in waves:
        xb, lengths = _pad([w])
        out.append(torch.softmax(model(xb, lengths), dim=-1)[0])
    return torch.stack(out).numpy()
