"""One prepared check for a machine with a GPU (no network needed: it builds its tiny models itself).

    .venv/bin/python benchmarks/gpu_check.py          # on the GPU machine
    .venv/bin/python benchmarks/gpu_check.py --cpu    # the same steps on the CPU: checks this script (< 4 min)

Steps, each printing what it measured:
1. Whisper in float16: a tiny random WhisperForConditionalGeneration (the tests' `tiny_whisper`) through the
   `transcribe` stage's model class (`asr.dtype: auto` → float16 on the GPU); transcripts vs the float32 run.
2. A Ray actor with `num_gpus=1` (local Ray, loopback): the same Whisper through melt.compute.runner with
   `compute.engine: ray`; the actor reports the device it got; results vs the local engine's.
3. ERC training (`erc.device: cuda`): the three stages on a synthetic dialogue task whose labels only context
   reveals; weighted F1 vs the CPU run, and run-to-run bit-identity on the GPU.
4. SER head training on `cuda` (accelerate): a head on random pooled features; loss history vs the CPU.
Without CUDA torch (and without --cpu) it prints "no GPU" and exits 0. Exit status 1 if a step fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from melt.reproducible import configure_torch  # noqa: E402  (first: the exact-numerics environment)

import torch  # noqa: E402


def whisper_spec(model_dir: Path, device: str, dtype: str):
    from melt.compute.runner import ModelSpec
    from melt.pretrain.whisper import Decoding, WhisperModel

    return ModelSpec(WhisperModel, {"model": str(model_dir), "revision": None, "device": device, "dtype": dtype,
                                    "decoding": Decoding("en", 12, 1, 30.0), "batch_size": 4})


def clips(folder: Path, n: int = 8) -> list:
    from pretrain_helpers import tone, write_audio

    rng = np.random.default_rng(0)
    return [(f"clip{i}", str(write_audio(folder / f"clip{i}.wav",
                                         sum(tone(2.0 + i % 3, f, amplitude=0.1) for f in rng.uniform(90, 900, 3)))))
            for i in range(n)]


def run(spec, items, compute, resources) -> tuple[dict, float]:
    from melt.compute.runner import run_model

    out: dict = {}
    start = time.perf_counter()
    run_model(spec, items, out.__setitem__, compute, resources, desc="", progress=False)
    return out, time.perf_counter() - start


def step_whisper(device: str, tmp: Path) -> dict:
    from pretrain_helpers import tiny_whisper

    from melt.compute.params import ActorResources, ComputeParams
    from melt.pretrain.whisper import resolve_dtype

    model = tiny_whisper(tmp / "whisper")
    items = clips(tmp / "audio")
    dtype = str(resolve_dtype("auto", device)).removeprefix("torch.")
    half, seconds = run(whisper_spec(model, device, "auto" if device == "cpu" else dtype), items, ComputeParams(),
                        ActorResources(batch_size=4))
    full, _ = run(whisper_spec(model, device, "float32"), items, ComputeParams(), ActorResources(batch_size=4))
    same_text = sum(half[k]["text"] == full[k]["text"] for k in half)
    print(f"[whisper] device {device}, dtype auto → {dtype}: {len(items)} clips in {seconds:.2f} s; "
          f"{same_text}/{len(items)} transcripts equal to float32's; e.g. {half['clip0']}")
    assert all(r["asr_chunks"] == 1 for r in half.values())
    return {"model": model, "items": items, "local": half, "dtype": dtype}


def step_ray_actor(device: str, whisper: dict) -> None:
    import ray

    from melt.compute.cluster import connect, disconnect
    from melt.compute.params import ActorResources, ComputeParams

    num_gpus = 0 if device == "cpu" else 1
    start = time.perf_counter()
    connect(None)
    print(f"[ray] local Ray started in {time.perf_counter() - start:.1f} s; cluster resources "
          f"{ {k: v for k, v in ray.cluster_resources().items() if k in ('CPU', 'GPU')} }")
    try:
        @ray.remote(num_gpus=num_gpus)
        def where() -> str:
            return f"cuda={torch.cuda.is_available()} " + (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                                                           else "cpu")

        print(f"[ray] a task with num_gpus={num_gpus} sees: {ray.get(where.remote())}")
        spec = whisper_spec(whisper["model"], device, whisper["dtype"])
        compute = ComputeParams(engine="ray")
        out, seconds = run(spec, whisper["items"], compute, ActorResources(actors=1, batch_size=4, num_gpus=num_gpus))
        same = sum(out[k] == whisper["local"][k] for k in out)
        print(f"[ray] Whisper in 1 actor (num_gpus={num_gpus}): {len(out)} clips in {seconds:.2f} s (actor start "
              f"included); {same}/{len(out)} records identical to the local engine's")
        assert same == len(out), "Ray actor results differ from the local engine's"
    finally:
        disconnect()


def step_erc(device: str) -> None:
    from test_erc_model import previous_turn_task

    from melt.erc.params import ErcParams
    from melt.erc.training import train_hierarchy, weighted_f1
    from melt.erc.inference import predict_all

    data = previous_turn_task()
    base = dict(utterance_hidden=16, gru_hidden=16, heads=2, fusion_hidden=16, dropout=0.0,
                stage1={"epochs": 10, "lr": 0.01, "batch_dialogues": 8},
                stage2={"epochs": 20, "lr": 0.01, "batch_dialogues": 8},
                stage3={"epochs": 10, "lr": 0.01, "batch_dialogues": 8})
    scores = {}
    for dev in dict.fromkeys(("cpu", device)):
        start = time.perf_counter()
        models, _, _ = train_hierarchy(data, ErcParams(device=dev, **base))
        seconds = time.perf_counter() - start
        probs, _ = predict_all(models, {m: data.modalities[m].x for m in ("text", "audio")},
                               {m: data.modalities[m].ok for m in ("text", "audio")}, data.dialogues)
        test = data.rows("test")
        scores[dev] = weighted_f1(data.y, probs["fusion"], test, data.classes, "test")
        state = {k: v.clone() for k, v in models.fusion.state_dict().items()}
        again, _, _ = train_hierarchy(data, ErcParams(device=dev, **base))
        identical = all(torch.equal(state[k], v) for k, v in again.fusion.state_dict().items())
        print(f"[erc] erc.device={dev}: trained in {seconds:.1f} s, test weighted F1 {scores[dev]:.3f} (the task needs "
              f"context: chance ≈ 0.33); a second training bit-identical: {identical}")
        assert identical, f"ERC training on {dev} is not run-to-run identical"


def step_ser(device: str) -> None:
    from melt.ser.data import Arrays
    from melt.ser.training import HeadConfig, make_accelerator, train_head

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    x = (rng.standard_normal((400, 1, 5, 32)) + y[:, None, None, None] * 0.5).astype(np.float32)
    arrays = Arrays(x, np.ones(400, dtype=np.int64), y)
    cfg = HeadConfig(hidden_size=32, epochs=20, batch_size=32, seed=0)
    losses = {}
    for dev in dict.fromkeys(("cpu", device)):
        start = time.perf_counter()
        head, losses[dev] = train_head(arrays, 3, cfg, accelerator=make_accelerator(dev))
        print(f"[ser] ser.device={dev}: head trained in {time.perf_counter() - start:.1f} s on "
              f"{next(head.parameters()).device}; loss {losses[dev][0]:.3f} → {losses[dev][-1]:.3f}")
    if device != "cpu":
        gap = max(abs(a - b) for a, b in zip(losses["cpu"], losses[device]))
        print(f"[ser] largest per-epoch loss gap GPU vs CPU: {gap:.2e} (not bit-identical by design)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run every step on the CPU (self-check of this script)")
    args = ap.parse_args()
    configure_torch()
    if not args.cpu and not torch.cuda.is_available():
        print(f"no GPU: torch {torch.__version__} sees no CUDA device (CPU build or none visible); nothing to check. "
              f"Run with --cpu to check the script itself.")
        return 0
    device = "cpu" if args.cpu else "cuda"
    if device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        whisper = None
        steps = [("whisper", lambda: step_whisper(device, Path(tmp))),
                 ("ray", lambda: step_ray_actor(device, whisper)),
                 ("erc", lambda: step_erc(device)), ("ser", lambda: step_ser(device))]
        for name, step in steps:
            if name == "ray" and whisper is None:
                failed.append("ray (needs the whisper step)")
                continue
            try:
                result = step()
                whisper = result if name == "whisper" else whisper
            except Exception:   # report every step, then fail
                traceback.print_exc()
                failed.append(name)
    print("FAILED: " + ", ".join(failed) if failed else "all steps passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
