"""What the exact settings of melt/reproducible.py cost: the same work with them and with this CPU's own kernels.

    .venv/bin/python benchmarks/exact_cost.py [--repeats 3] [--steps 3] [--skip-stages] [--skip-step]

1. The demo's torch stages (pretrain_text, ser@egemaps, erc_train@demo), run as DVC runs them, in a copy of this
   workspace: with the settings, and without them (melt.reproducible's environment undone before torch loads,
   configure_torch skipped: this CPU's vectorised kernels, oneDNN on, MKL's own code path; the training loops
   keep their own one-thread pins). Alternated, `--repeats` times each; medians. Needs `dvc repro` first.
2. One training step of a RoBERTa-base-shaped classifier (random weights, batch 8 × 64 tokens, AdamW), each variant
   in its own process (ATen and MKL read the settings once): exact; exact but with ATen's kernels for this CPU,
   oneDNN on, or MKL's own code path (one setting undone each); this CPU's kernels on 1 thread (no setting); the same on every core (torch's defaults). Median of `--steps` steps after a warm-up step.
Ratios are against the fastest variant measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = (("pretrain_text", ["stages/pretrain_text.py"]), ("ser@egemaps", ["stages/ser.py", "egemaps"]),
          ("erc_train@demo", ["stages/erc_train.py", "demo"]))
# Runs a stage script without the exact settings: the caller's environment back before torch loads, no
# configure_torch (argv: the stage script and its arguments).
WITHOUT = """
import os, runpy, sys
import melt.reproducible as r
for key, value in r.STARTED_ENV.items():
    os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
r.configure_torch = lambda: None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def stages(repeats: int) -> None:
    for needed in ("data/pseudolabels", "data/features/ser/egemaps", "data/features/erc"):
        if not (ROOT / needed).exists():
            raise SystemExit(f"{needed} missing: run `dvc repro` first")
    with tempfile.TemporaryDirectory(prefix="exact-cost-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(ROOT, work, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", ".dvc"))
        times = {(name, variant): [] for name, _ in STAGES for variant in ("exact", "own kernels")}
        for _ in range(repeats):
            for name, script in STAGES:
                times[name, "exact"].append(timed([sys.executable, *script], work))
                times[name, "own kernels"].append(timed([sys.executable, "-c", WITHOUT, *script], work))
    print(f"\n1. demo torch stages (median of {repeats}; seconds)")
    print(f"{'stage':<16} {'exact':>8} {'own kernels':>12} {'exact / own':>12}")
    total = {"exact": 0.0, "own kernels": 0.0}
    for name, _ in STAGES:
        med = {v: statistics.median(times[name, v]) for v in total}
        for v in total:
            total[v] += med[v]
        print(f"{name:<16} {med['exact']:>8.1f} {med['own kernels']:>12.1f} {med['exact'] / med['own kernels']:>12.2f}")
    print(f"{'all three':<16} {total['exact']:>8.1f} {total['own kernels']:>12.1f} "
          f"{total['exact'] / total['own kernels']:>12.2f}")


VARIANTS = ("exact", "exact but ATen's own kernels", "exact but oneDNN on", "exact but MKL's own path",
            "own kernels, 1 thread", "own kernels, every core")


def step_worker(variant: str, steps: int) -> None:
    """One variant of the RoBERTa-base-shaped step; prints JSON. Runs in its own process."""
    if variant.startswith("exact"):
        from melt.reproducible import STARTED_ENV, configure_torch
        undone = {"exact but ATen's own kernels": "ATEN_CPU_CAPABILITY", "exact but MKL's own path": "MKL_CBWR"}
        if variant in undone:   # this one variable as the process was started
            key = undone[variant]
            os.environ.pop(key)
            if STARTED_ENV[key] is not None:
                os.environ[key] = STARTED_ENV[key]
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    if variant.startswith("exact"):
        configure_torch()
        if variant == "exact but oneDNN on":
            torch.backends.mkldnn.enabled = True
    elif variant == "own kernels, 1 thread":
        torch.set_num_threads(1)
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, max_position_embeddings=514, num_labels=3)
    model = RobertaForSequenceClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(5, 50265, (8, 64))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    seconds = []
    for _ in range(steps + 1):   # the first is a warm-up
        started = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"seconds": statistics.median(seconds[1:]), "threads": torch.get_num_threads(),
                      "capability": torch.backends.cpu.get_cpu_capability(), "loss": float(loss)}))


def step(steps: int) -> None:
    from melt.reproducible import STARTED_ENV

    env = {k: v for k, v in os.environ.items() if k not in STARTED_ENV} | {
        k: v for k, v in STARTED_ENV.items() if v is not None}   # this process's own import set the exact ones
    results = {}
    for variant in VARIANTS:
        proc = subprocess.run([sys.executable, __file__, "--step-worker", variant, "--steps", str(steps)], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"step worker {variant} failed:\n{proc.stderr[-2000:]}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    fastest = min(r["seconds"] for r in results.values())
    print(f"\n2. RoBERTa-base-shaped training step, batch 8 x 64 tokens (median of {steps})")
    print(f"{'variant':<30} {'kernels':>8} {'threads':>8} {'s/step':>8} {'/ fastest':>10}")
    for variant, r in results.items():
        print(f"{variant:<30} {r['capability']:>8} {r['threads']:>8} {r['seconds']:>8.2f} {r['seconds'] / fastest:>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--skip-stages", action="store_true")
    ap.add_argument("--skip-step", action="store_true")
    ap.add_argument("--step-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step_worker:
        step_worker(args.step_worker, args.steps)
        return
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    if not args.skip_stages:
        stages(args.repeats)
    if not args.skip_step:
        step(args.steps)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
