"""Where a stage's torch model runs, from its `device` param: `auto` = the GPU when this process sees one.

Resolved in the process that runs the model: under Ray, an actor with `num_gpus` sees its GPU (and `auto` picks it)
while the driver may have none."""

from __future__ import annotations

import re

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(device: str, param: str = "device") -> str:
    """`auto` → `cuda` if available else `cpu`; `cpu`; `cuda`/`cuda:N` only when a GPU is there (else an error
    naming the param, not a silent fall-back to the CPU)."""
    import torch

    if not DEVICE_PATTERN.match(device):
        raise ValueError(f"{param}: {device!r} is not auto, cpu, cuda or cuda:N")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{param}: {device!r} asked for a GPU, but torch sees none (CPU build of torch, or no "
                         f"visible device); use auto or cpu")
    return device


def worker_device(device: str, engine: str, num_gpus: float, param: str = "device") -> str:
    """The device the stage's model instances will run on, decided in the driver (it may have no GPU while the
    actors have one): what a fingerprint that depends on the device (e.g. Whisper's `auto` dtype) must be
    computed for. Ray actors with `num_gpus` > 0 get a GPU (`auto` → cuda); with 0 they see none."""
    if engine != "ray":
        return resolve_device(device, param)
    if not DEVICE_PATTERN.match(device):
        raise ValueError(f"{param}: {device!r} is not auto, cpu, cuda or cuda:N")
    if device == "auto":
        return "cuda" if num_gpus > 0 else "cpu"
    if device.startswith("cuda") and num_gpus <= 0:
        raise ValueError(f"{param}: {device!r} under compute.engine: ray needs the stage's actors to ask for a GPU "
                         f"(compute.<stage>.num_gpus > 0)")
    return device
