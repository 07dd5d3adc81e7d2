"""Text fine-tuning speed (examples/s) and the demo model's spread over seeds.

    .venv/bin/python benchmarks/text_finetune.py [--seeds 5] [--skip-large]

1. Training examples/s of melt.pretrain.text_train.fine_tune on this CPU: the offline scratch model on the demo
   podcast's pseudo-labels, and RoBERTa-base / RoBERTa-large shapes (random weights, the real ones need the
   network) on transcripts of podcast length (~12 words), batch 32 (large: 8), a few steps; then the paper's
   run (MSP-Podcast ~149k transcripts, 80 % trained, 10 epochs) extrapolated at that speed.
2. The demo's MELD-sentiment macro-F1 over --seeds seeds (`text.seed`), beside chance and VADER itself: one
   seed is the pipeline's number, the spread says how much of it is luck on 41 test lines.
Needs `dvc repro pseudolabel prepare` first (data/pseudolabels/demo.csv, data/prepared/test.csv).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from melt.pretrain.params import TextParams
from melt.pretrain.pretrain_text import pretrain_text
from melt.pretrain.text_train import fine_tune

ROOT = Path(__file__).resolve().parents[1]
TEXT = "honestly the new kitchen is not bad at all and the oven works fine now"


def speed(name: str, model, tokenizer, params: TextParams, n: int) -> float:
    texts, targets = [TEXT] * n, [i % 3 for i in range(n)]
    started = time.perf_counter()
    fine_tune(model, tokenizer, texts, targets, params)
    rate = n * params.epochs / (time.perf_counter() - started)
    train_items = 149_000 * 0.8
    print(f"{name}: {rate:.1f} examples/s; the paper's run (10 epochs × {train_items:,.0f} transcripts) would take "
          f"{10 * train_items / rate / 3600:.1f} h on this CPU")
    return rate


def hub_shape(name: str, hidden: int, layers: int, heads: int, batch: int, steps: int) -> None:
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from melt.pretrain.text_model import scratch_tokenizer

    tokenizer = scratch_tokenizer([TEXT] * 3, 100)   # speed depends on the length, not the vocabulary
    config = RobertaConfig(vocab_size=50265, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=4 * hidden, max_position_embeddings=514, num_labels=3)
    model = RobertaForSequenceClassification(config)
    params = TextParams(model="roberta-shape", device="cpu", epochs=1, batch_size=batch, max_length=32)
    speed(f"{name} shape (random weights, batch {batch}, {steps} steps)", model, tokenizer, params, batch * steps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    labels, test = ROOT / "data/pseudolabels/demo.csv", ROOT / "data/prepared/test.csv"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            started = time.perf_counter()
            r = pretrain_text(TextParams(device="cpu", seed=seed), "sentiment", labels, test, f"{tmp}/m",
                              f"{tmp}/m.json", f"{tmp}/r", corpus="demo", track=False)
            seconds = time.perf_counter() - started
            results.append((r["heldout"]["macro_f1"], r["meld_test"]["macro_f1"], r["meld_test"]["acc"]))
            if seed == 0:
                n = r["train_items"] * r["effective_epochs"]
                print(f"scratch model (demo, {r['train_items']} transcripts × {r['effective_epochs']} epochs, "
                      f"batch {r['effective_batch_size']}): {n / seconds:.0f} examples/s including evaluation")
    a = np.array(results)
    print(f"demo over {args.seeds} seeds: held-out macro-F1 {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f}; MELD test "
          f"macro-F1 {a[:, 1].mean():.3f} ± {a[:, 1].std():.3f} (min {a[:, 1].min():.3f}, max {a[:, 1].max():.3f}), "
          f"acc {a[:, 2].mean():.3f}; chance: uniform macro-F1 {r['meld_test_chance']['uniform_macro_f1']}, "
          f"always-{r['meld_test_chance']['majority_class']} acc {r['meld_test_chance']['majority_acc']}; "
          f"VADER on the same lines macro-F1 {r['meld_test_vader']['macro_f1']} acc {r['meld_test_vader']['acc']}")
    torch.manual_seed(0)
    hub_shape("RoBERTa-base", 768, 12, 12, 32, 3)
    if not args.skip_large:
        hub_shape("RoBERTa-large", 1024, 24, 16, 8, 3)


if __name__ == "__main__":
    main()
