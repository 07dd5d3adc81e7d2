"""The same bits from torch on any CPU: import this module before torch (every stage script that runs torch, the
test suite's conftest, and each Ray worker through melt.compute), then call `configure_torch()`.

Why each setting (measured in benchmarks/exact_cost.py and tests/test_reproducible.py):
- ATEN_CPU_CAPABILITY=default: ATen picks its vectorised kernels by the CPU's instruction set (AVX2, AVX-512, ...),
  and sums in a different order in each; `default` is the same scalar-order kernel set on every x86 CPU.
- MKL_CBWR=COMPATIBLE: MKL's conditional numerical reproducibility; without it MKL's BLAS also picks code paths
  by instruction set.
- one intra-op thread: a reduction split over N threads adds in another order than over M.
- oneDNN off, deterministic algorithms on: oneDNN picks kernels by ISA too; the deterministic flag makes torch
  raise on an op that has no deterministic implementation instead of silently varying.
- CUBLAS_WORKSPACE_CONFIG: required by deterministic cuBLAS on a GPU (bit-identical across runs on one GPU model;
  a GPU's results are not those of a CPU, see docs/registry.md).
The variables override the caller's environment on purpose: the registry's outputs must not depend on it.
"""

from __future__ import annotations

import os

EXACT_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}


def apply_env() -> None:
    """Set EXACT_ENV in this process (before torch is imported: ATen and MKL read them once)."""
    os.environ.update(EXACT_ENV)


def configure_torch() -> None:
    """The torch-side settings; call after import, in every process that runs torch (workers included)."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.enabled = False
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


apply_env()
