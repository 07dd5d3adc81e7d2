"""The same bits from torch on any CPU: import this module before torch (every stage script that runs torch, the
test suite's conftest, and each Ray worker through melt.compute), then call `configure_torch()`.

What each setting does, and what dropping it alone did to `pretrain_text` (the demo's transformer training: 30
epochs; the loss curve and the weights' sha256 compared between this machine's AVX-512 kernels and a simulated
AVX2 CPU, `ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2`; docs/registry.md):
- ATEN_CPU_CAPABILITY=default: ATen picks its vectorised kernels by the CPU's instruction set and sums in another
  order in each; `default` is the same kernel set on every x86-64 CPU. Needed: without it AVX2 and AVX-512 runs
  part at epoch 7 (loss at epoch 22: 0.03514 vs 0.03702).
- oneDNN off: oneDNN also picks kernels by instruction set. Needed: without it the two part at epoch 7.
- one intra-op thread (the env variables and torch.set_num_threads): a reduction split over N threads adds in
  another order than over M. Needed: 2 threads vs 1 part at epoch 7 (and are 7x slower on these tiny matmuls).
- MKL_CBWR=COMPATIBLE: MKL's conditional numerical reproducibility on its SSE2 branch, the one Intel documents as
  giving the same results on every x86 CPU, Intel's and others' (the AVX2 branch only on Intel's). MKL is on the
  path (dropping it changes the bits), but this machine cannot show another MKL path (MKL_ENABLE_INSTRUCTIONS left
  every result the same), so it is kept on that documentation. It is the setting that costs most: ~2x per
  transformer-size training step (benchmarks/exact_cost.py).
- portable sqrt and tanh (melt/portable_math.py): torch computes them with MKL's vector math (VML), which picks
  its code by CPU even under MKL_CBWR. Needed: without them a fresh clone on a Xeon with AMX and AVX512-FP16 got
  another loss curve from epoch 7 than the committed one (another AVX-512 Xeon), with every setting above in force.
- deterministic algorithms: no CPU op of this pipeline changed with it; kept so that an op without a
  deterministic implementation raises instead of silently varying (and for the GPU).
- CUBLAS_WORKSPACE_CONFIG: required by deterministic cuBLAS on a GPU (bit-identical across runs on one GPU model;
  a GPU's results are not those of a CPU, see docs/registry.md).
With all of them both instruction sets, with OMP_NUM_THREADS=3 asked for, give identical weights; without any, AVX2
and AVX-512 part at epoch 7 (epoch 22: 0.03437 vs 0.03724).
The variables override the caller's environment on purpose: the registry's outputs must not depend on it.
`STARTED_ENV` keeps what the process was started with (tests hand it to the subprocesses they start).
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
STARTED_ENV: dict[str, str | None] = {key: os.environ.get(key) for key in EXACT_ENV}


def apply_env() -> None:
    """Set EXACT_ENV in this process (before torch is imported: ATen and MKL read them once)."""
    os.environ.update(EXACT_ENV)


def configure_torch() -> None:
    """The torch-side settings; call after import, in every process that runs torch (workers included)."""
    import torch

    from melt import portable_math

    portable_math.install()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.enabled = False
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


apply_env()
