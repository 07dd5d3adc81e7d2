"""What the stages run over every audio file: a frozen SSL backbone's per-layer means, or eGeMAPS functionals.

Both give a (crops, layers, dim) float32 array per file, the shape of the feature store's vectors (melt.compute.store).
"""

from __future__ import annotations

import numpy as np

from melt.compute.registry import EGEMAPS, BackboneSpec
from melt.compute.store import FULL, crop_offsets
from melt.data.audio import AudioError, load_audio


class SslExtractor:
    """A frozen transformers backbone: per-layer mean-pooled hidden states."""

    def __init__(self, spec: BackboneSpec, device: str = "cpu"):
        from melt.compute.backbones import fingerprint, load_backbone, wants_normalized_input

        self.model = load_backbone(spec, device=device)
        self.normalized = wants_normalized_input(spec)
        self.info = fingerprint(spec, self.model, self.normalized)

    def compute(self, path: str, sha: str, policy: str, crop_samples: int, crops: int) -> np.ndarray:
        from melt.compute.backbones import layer_means, normalize

        wave = load_audio(path)
        if wave.size == 0:
            raise AudioError("empty audio")
        starts = [0] if policy == FULL else crop_offsets(sha, wave.size, crop_samples, crops)
        windows = [wave if policy == FULL else wave[o:o + crop_samples] for o in starts]
        if self.normalized:
            windows = [normalize(w) for w in windows]
        return np.stack([layer_means(self.model, w) for w in windows])


class EgemapsExtractor:
    """openSMILE eGeMAPSv02 functionals (melt.data.egemaps): one "layer" of 88 values per utterance."""

    def __init__(self, workers: int):
        from melt.data.egemaps import CACHE_VERSION

        self.workers = workers
        self.info = {"id": EGEMAPS, "revision": None, "commit": None, "version": CACHE_VERSION,
                     "key": f"egemaps-{CACHE_VERSION}"}

    def compute_many(self, jobs: list[tuple[str, str]]) -> dict[str, np.ndarray | str]:
        """{sha: (1, 1, 88) array or failure reason} for (path, sha) jobs, in worker processes."""
        from melt.data.egemaps import egemaps_functionals

        features, failures = egemaps_functionals([p for p, _ in jobs], workers=self.workers)
        by_path = {p: s for p, s in jobs}
        out: dict[str, np.ndarray | str] = {}
        for path, values in features.iterrows():
            out[by_path[path]] = values.to_numpy(dtype=np.float32)[None, None, :]
        for path, reason in zip(failures["path"], failures["reason"]):
            out[by_path[path]] = f"egemaps: {reason}"
        return out
