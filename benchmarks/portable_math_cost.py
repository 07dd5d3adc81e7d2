"""What melt/portable_math.py's CPU kernels cost against torch's own (MKL vector math, `MKL_CBWR=COMPATIBLE`).

    .venv/bin/python benchmarks/portable_math_cost.py [--repeats 5]

Each variant runs in its own process (the kernels are registered per process), both under melt.reproducible's
environment: `mkl` = torch's kernels, `portable` = after melt.portable_math.install().
1. sqrt and tanh of 1,000,000 float32 values (one call; median of --repeats).
2. 10,000 calls on 64 values (the per-call cost of a Python kernel; Adam calls sqrt once per parameter tensor).
3. One AdamW step over RoBERTa-base-shaped parameters (125 M float32, 1 thread): the optimizer's sqrt per tensor.
Ratios are portable / mkl, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def roberta_base_shapes() -> list[tuple[int, ...]]:
    h, ffn = 768, 3072
    layer = [(h, h), (h,)] * 4 + [(ffn, h), (ffn,), (h, ffn), (h,)] + [(h,)] * 4
    return [(50265, h), (514, h), (1, h), (h,), (h,)] + layer * 12 + [(h, h), (h,)]


def measure(repeats: int) -> dict:
    import torch

    def timed(fn, n=repeats):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    g = torch.Generator().manual_seed(0)
    big = torch.randn(1_000_000, generator=g)
    small = torch.randn(64, generator=g)
    out = {"sqrt_1M_s": timed(lambda: torch.sqrt(big.abs())), "tanh_1M_s": timed(lambda: torch.tanh(big))}

    def calls(fn):
        for _ in range(10_000):
            fn(small)
    out["sqrt_10k_calls_s"] = timed(lambda: calls(torch.sqrt), 3)
    out["tanh_10k_calls_s"] = timed(lambda: calls(torch.tanh), 3)

    params = [torch.nn.Parameter(torch.randn(s, generator=g) * 0.02) for s in roberta_base_shapes()]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    optimizer.step()   # warm-up: allocates the moment buffers
    out["adamw_step_s"] = timed(optimizer.step, max(2, repeats // 2))
    out["adamw_params_M"] = round(sum(p.numel() for p in params) / 1e6, 1)
    return out


def child(variant: str, repeats: int) -> None:
    import melt.reproducible as reproducible   # the exact environment (MKL_CBWR=COMPATIBLE, one thread) either way
    from melt import portable_math

    if variant == "mkl":
        portable_math.install = lambda: None   # every setting of configure_torch but the kernels
    reproducible.configure_torch()
    print(json.dumps(measure(repeats)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variant", choices=["mkl", "portable"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return child(args.variant, args.repeats)
    results = {}
    for variant in ("mkl", "portable"):
        run = subprocess.run([sys.executable, __file__, "--variant", variant, "--repeats", str(args.repeats)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        results[variant] = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"AdamW over {results['mkl']['adamw_params_M']} M parameters; median of {args.repeats} (1 thread)\n")
    print(f"{'work':<28}{'mkl (s)':>12}{'portable (s)':>15}{'portable/mkl':>15}")
    for key, label in (("sqrt_1M_s", "sqrt, 1M float32"), ("tanh_1M_s", "tanh, 1M float32"),
                       ("sqrt_10k_calls_s", "sqrt, 10k calls of 64"), ("tanh_10k_calls_s", "tanh, 10k calls of 64"),
                       ("adamw_step_s", "AdamW step, RoBERTa-base")):
        m, p = results["mkl"][key], results["portable"][key]
        print(f"{label:<28}{m:>12.4f}{p:>15.4f}{p / m:>15.2f}")


if __name__ == "__main__":
    main()
