"""The device every stage that runs torch takes from its params, with and without a GPU (torch.cuda.is_available
patched; the model loaders and accelerate's Accelerator replaced by recorders, so nothing touches a real GPU).

`auto` is the GPU when the process sees one; `cuda` without one is an error naming the param, never a silent
fall-back; under Ray the driver decides for the actors from `compute.<stage>.num_gpus`."""

from __future__ import annotations

import pytest
import torch

from melt.compute.device import resolve_device, worker_device
from melt.erc.params import ErcParams
from melt.pretrain.params import AsrParams, TextParams
from melt.ser.params import SerParams


@pytest.fixture(params=[True, False], ids=["gpu", "no-gpu"])
def gpu(request, monkeypatch) -> bool:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: request.param)
    return request.param


class Recorder:
    """Stands in for a loader or Accelerator: keeps the arguments it was called with."""

    calls: list[tuple[tuple, dict]] = []

    def __init__(self, *args, **kwargs):
        type(self).calls.append((args, kwargs))
        self.info = {"key": "k"}


@pytest.fixture
def recorder(monkeypatch):
    Recorder.calls = []
    return Recorder


def test_resolve_device(gpu):
    assert resolve_device("auto") == ("cuda" if gpu else "cpu")
    assert resolve_device("cpu") == "cpu"
    if gpu:
        assert resolve_device("cuda:1") == "cuda:1"
    else:
        with pytest.raises(ValueError, match="ser.device: 'cuda' asked for a GPU"):
            resolve_device("cuda", "ser.device")
    with pytest.raises(ValueError, match="erc.device: 'gpu' is not"):
        resolve_device("gpu", "erc.device")


def test_ser_training_and_features(gpu, recorder, monkeypatch):
    import accelerate

    import melt.compute.extractors as extractors
    from melt.compute.registry import BackboneSpec
    from melt.ser.training import make_accelerator

    monkeypatch.setattr(accelerate, "Accelerator", recorder)
    for device in ("auto", "cpu"):
        make_accelerator(SerParams(device=device).device)
    assert [kw["cpu"] for _, kw in recorder.calls] == [not gpu, True]

    recorder.calls = []
    monkeypatch.setattr(extractors, "SslExtractor", recorder)
    extractors.SslModel(BackboneSpec(id="some/backbone"), device=SerParams().device, device_param="ser.device")
    assert recorder.calls[0][1]["device"] == ("cuda" if gpu else "cpu")


def test_text_pretraining_and_mixed_precision(gpu, recorder, monkeypatch):
    import accelerate

    from melt.pretrain.text_train import text_accelerator

    monkeypatch.setattr(accelerate, "Accelerator", recorder)
    text_accelerator(TextParams(device="auto", mixed_precision="bf16"))
    text_accelerator(TextParams(device="cpu", mixed_precision="bf16"))
    # mixed precision only on a GPU: the CPU stays float32 and bit-reproducible
    assert [kw for _, kw in recorder.calls] == [{"cpu": not gpu, "mixed_precision": "bf16" if gpu else "no"},
                                                {"cpu": True, "mixed_precision": "no"}]


def test_erc_training_and_embeddings(gpu, recorder, monkeypatch):
    import melt.erc.text as text
    from melt.erc.training import training_device

    assert training_device(ErcParams()) == "cpu"   # the default: bit-identical on every CPU
    assert training_device(ErcParams(device="auto")) == ("cuda" if gpu else "cpu")
    monkeypatch.setattr(text, "TextEncoder", recorder)
    text.TextModel("some/encoder", device="auto")
    assert recorder.calls[0][1]["device"] == ("cuda" if gpu else "cpu")


def test_transcribe_device_and_dtype(gpu):
    from melt.pretrain.whisper import resolve_dtype

    asr = AsrParams()   # device auto, dtype auto
    local = worker_device(asr.device, "local", 0, "asr.device")
    assert local == ("cuda" if gpu else "cpu")
    assert resolve_dtype(asr.dtype, local) == (torch.float16 if gpu else torch.float32)   # Whisper fp16 on a GPU
    # Ray: the driver (GPU or not) decides for the actors from what they ask for
    assert worker_device("auto", "ray", 1, "asr.device") == "cuda"
    assert worker_device("auto", "ray", 0, "asr.device") == "cpu"
    with pytest.raises(ValueError, match="asr.device: 'cuda' under compute.engine: ray"):
        worker_device("cuda", "ray", 0, "asr.device")
