"""Seeded fine-tuning of the text classifier: AdamW, linear warm-up then decay, cross-entropy on pseudo-labels.

`accelerate` places the work (GPU when present, data-parallel under `accelerate launch`, else CPU).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm

from melt.pretrain.params import TextParams

EpochCallback = Callable[[int, float], None]


def _shard(perm: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    usable = len(perm) - len(perm) % world if world > 1 else len(perm)   # equal batches per process
    return perm[:usable][rank::world]


def text_accelerator(text: TextParams):
    """accelerate's Accelerator on `text.device`; `text.mixed_precision` on a GPU only (the CPU stays float32)."""
    from accelerate import Accelerator

    from melt.compute.device import resolve_device

    on_cpu = resolve_device(text.device, "text.device") == "cpu"
    return Accelerator(cpu=on_cpu, mixed_precision="no" if on_cpu else text.mixed_precision)


def fine_tune(model, tokenizer, texts: list[str], targets: list[int], text: TextParams, accelerator=None, on_epoch: EpochCallback | None = None, progress: bool = False) -> list[float]:
    """Train in place; returns the mean training loss per epoch."""
    accelerator = accelerator or text_accelerator(text)
    threads = torch.get_num_threads()
    if accelerator.device.type == "cpu" and text.model == "scratch":
        torch.set_num_threads(1)   # tiny matmuls: thread hand-offs cost more than they save on a busy CPU
    try:
        return _fine_tune(model, tokenizer, texts, targets, text, accelerator, on_epoch, progress)
    finally:
        torch.set_num_threads(threads)


def _fine_tune(model, tokenizer, texts, targets, text, accelerator, on_epoch, progress):
    from transformers import get_linear_schedule_with_warmup

    from melt.pretrain.text_model import schedule

    lr, epochs, batch_size = schedule(text)
    torch.manual_seed(text.seed)
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=text.max_length, return_tensors="pt")
    lengths = enc["attention_mask"].sum(1)
    y = torch.tensor(targets, dtype=torch.long)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=text.weight_decay)
    steps_per_epoch = -(-len(_shard(torch.arange(len(y)), accelerator.process_index, accelerator.num_processes))
                        // batch_size)
    total = steps_per_epoch * epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(text.warmup_ratio * total), total)
    model, optimizer = accelerator.prepare(model, optimizer)
    generator = torch.Generator().manual_seed(text.seed)
    device = accelerator.device
    history = []
    for epoch in tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress):
        model.train()
        loss_sum, seen = 0.0, 0
        perm = torch.randperm(len(y), generator=generator)
        for batch in _shard(perm, accelerator.process_index, accelerator.num_processes).split(batch_size):
            width = int(lengths[batch].max())   # trim the batch to its longest text
            out = model(input_ids=enc["input_ids"][batch, :width].to(device),
                        attention_mask=enc["attention_mask"][batch, :width].to(device), labels=y[batch].to(device))
            optimizer.zero_grad()
            accelerator.backward(out.loss)
            optimizer.step()
            scheduler.step()
            loss_sum += out.loss.item() * len(batch)
            seen += len(batch)
        history.append(round(loss_sum / max(seen, 1), 6))
        if on_epoch:
            on_epoch(epoch, history[-1])
    accelerator.unwrap_model(model).eval()
    return history
