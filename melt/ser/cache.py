"""Content-addressed store of pooled backbone features.

A vector file is addressed by (backbone fingerprint, crop policy, audio sha256): the same audio under the
same backbone and policy is never computed twice, across runs, splits and corpora. Layout:
`<root>/store/<fingerprint key>/<policy>/<sha[:2]>/<sha>.npy`, each an array (n_crops, layers, dim).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

FULL = "full"


def crop_policy(crop_s: float, crops: int) -> str:
    return f"crop{crop_s:g}s-k{crops}"


def crop_offsets(sha: str, n_samples: int, crop_samples: int, crops: int) -> list[int]:
    """Seeded by the audio content: the same file always gets the same crops."""
    if n_samples <= crop_samples:
        return [0]
    rng = np.random.default_rng(int(sha[:16], 16))
    return sorted({int(o) for o in rng.integers(0, n_samples - crop_samples + 1, size=crops)})


class FeatureStore:
    def __init__(self, root: str | Path, backbone_key: str):
        self.root = Path(root)
        self.base = self.root / "store" / backbone_key

    def relpath(self, policy: str, sha: str) -> str:
        return (self.base / policy / sha[:2] / f"{sha}.npy").relative_to(self.root).as_posix()

    def path(self, policy: str, sha: str) -> Path:
        return self.root / self.relpath(policy, sha)

    def has(self, policy: str, sha: str) -> bool:
        return self.path(policy, sha).is_file()

    def put(self, policy: str, sha: str, vectors: np.ndarray) -> None:
        if vectors.ndim != 3:
            raise ValueError(f"expected (crops, layers, dim), got shape {vectors.shape}")
        target = self.path(policy, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".npy", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, vectors.astype(np.float32))
        os.replace(tmp, target)  # atomic: parallel processes may meet on the same content
