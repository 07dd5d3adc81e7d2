"""What the stages run over every audio file: a frozen SSL backbone's per-layer means, or eGeMAPS functionals.

`SslModel` and `EgemapsModel` are model classes for melt.compute.runner (decoding in `prepare`, the model in
`__call__`); `SslExtractor` and `egemaps_vector` compute one file in the calling process (the predict API).
Vectors have the feature store's shape (crops, layers, dim), float32 (melt.compute.store).
"""

from __future__ import annotations

import numpy as np

from melt.compute.device import resolve_device
from melt.compute.registry import EGEMAPS, BackboneSpec
from melt.compute.runner import Failure
from melt.compute.store import FULL, crop_offsets
from melt.data.audio import AudioError, load_audio


class SslExtractor:
    """A frozen transformers backbone: per-layer mean-pooled hidden states."""

    def __init__(self, spec: BackboneSpec, device: str = "cpu"):
        from melt.compute.backbones import fingerprint, load_backbone, wants_normalized_input

        self.model = load_backbone(spec, device=device)
        self.normalized = wants_normalized_input(spec)
        self.info = fingerprint(spec, self.model, self.normalized)

    def compute_wave(self, wave: np.ndarray, sha: str, policy: str, crop_samples: int, crops: int) -> np.ndarray:
        from melt.compute.backbones import layer_means, normalize

        if wave.size == 0:
            raise AudioError("empty audio")
        starts = [0] if policy == FULL else crop_offsets(sha, wave.size, crop_samples, crops)
        windows = [wave if policy == FULL else wave[o:o + crop_samples] for o in starts]
        if self.normalized:
            windows = [normalize(w) for w in windows]
        return np.stack([layer_means(self.model, w) for w in windows])

    def compute(self, path: str, sha: str, policy: str, crop_samples: int, crops: int) -> np.ndarray:
        return self.compute_wave(load_audio(path), sha, policy, crop_samples, crops)


class SslModel:
    """Runner model of a backbone. Items: {"path", "sha", "policy", "crop_samples", "crops", "label"}; `label`
    (the backbone's name) starts every failure reason."""

    def __init__(self, spec: BackboneSpec, device: str = "auto", device_param: str = "device"):
        self.extractor = SslExtractor(spec, device=resolve_device(device, device_param))

    @staticmethod
    def prepare(item: dict) -> dict | Failure:
        try:
            wave = load_audio(item["path"])
        except AudioError as err:
            return Failure(f"{item['label']} failed: {err}")
        return {**item, "wave": wave}

    def __call__(self, items: list[dict]) -> list[np.ndarray | Failure]:
        out = []
        for it in items:
            try:
                out.append(self.extractor.compute_wave(it["wave"], it["sha"], it["policy"], it["crop_samples"],
                                                       it["crops"]))
            except (AudioError, RuntimeError) as err:   # RuntimeError: too short for the CNN, etc.
                out.append(Failure(f"{it['label']} failed: {err}"))
        return out


def egemaps_info() -> dict:
    """The eGeMAPS "backbone"'s fingerprint: feature set and openSMILE build (names its store folder)."""
    from melt.data.egemaps import CACHE_VERSION

    return {"id": EGEMAPS, "revision": None, "commit": None, "version": CACHE_VERSION, "key": f"egemaps-{CACHE_VERSION}"}


class EgemapsModel:
    """Runner model of openSMILE eGeMAPSv02 functionals. Items: audio paths; results: the 88 values (float64, in
    openSMILE's order), or a Failure whose reason starts with one of melt.data.egemaps.FAILURE_KINDS."""

    fork_safe = True   # no torch: local workers can be forked (melt.compute.runner)

    @staticmethod
    def prepare(path: str) -> np.ndarray | Failure:
        from melt.data.egemaps import read_signal

        signal = read_signal(path)
        return Failure(signal) if isinstance(signal, str) else signal

    def __call__(self, signals: list[np.ndarray]) -> list[np.ndarray | Failure]:
        from melt.data.egemaps import functionals

        results = [functionals(s) for s in signals]
        return [Failure(r) if isinstance(r, str) else np.fromiter(r.values(), dtype=np.float64) for r in results]


def as_vectors(values: np.ndarray) -> np.ndarray:
    """eGeMAPS values as a store vector: one crop, one "layer" of 88, float32."""
    return np.asarray(values, dtype=np.float32)[None, None, :]


def egemaps_vector(path: str) -> np.ndarray | str:
    """One file's eGeMAPS store vector in this process, or the failure reason (`egemaps: ...`)."""
    model = EgemapsModel()
    prepared = model.prepare(path)
    result = prepared if isinstance(prepared, Failure) else model([prepared])[0]
    return f"egemaps: {result.reason}" if isinstance(result, Failure) else as_vectors(result)
