"""Content-addressed store of pooled backbone features.

A vector file is addressed by (backbone fingerprint, crop policy, audio sha256): the same audio under the
same backbone and policy is never computed twice, across runs, splits, corpora and experiments. Layout:
`<root>/store/<fingerprint key>/<policy>/<sha[:2]>/<sha>.npy`, each an array (n_crops, layers, dim).

The store lives outside DVC's outputs (`ser.feature_cache_dir`, shared by every `dvc exp run`); the
`features` stage's output holds exactly the vectors its index refers to, at the same relative paths, so the
output is a function of params and inputs only, whatever the store has accumulated.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np

from melt.io import TEMP_PREFIX, atomic_open

FULL = "full"
STORE = "store"


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
        self.base = self.root / STORE / backbone_key

    def relpath(self, policy: str, sha: str) -> str:
        return (self.base / policy / sha[:2] / f"{sha}.npy").relative_to(self.root).as_posix()

    def path(self, policy: str, sha: str) -> Path:
        return self.root / self.relpath(policy, sha)

    def has(self, policy: str, sha: str) -> bool:
        return self.path(policy, sha).is_file()

    def put(self, policy: str, sha: str, vectors: np.ndarray) -> None:
        if vectors.ndim != 3:
            raise ValueError(f"expected (crops, layers, dim), got shape {vectors.shape}")
        # Atomic: parallel processes (and queued experiments) may meet on the same content.
        with atomic_open(self.path(policy, sha), "wb") as f:
            np.save(f, vectors.astype(np.float32))


def _link_or_copy(src: Path, dst: Path) -> None:
    """`dst` gets `src`'s bytes: a hard link when the filesystem allows (no second copy), else a copy.

    Both go through a temp name and a rename, so a DVC link at `dst` is replaced, never written through."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f"{TEMP_PREFIX}{dst.name}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with open(src, "rb") as f, atomic_open(dst, "wb") as out:
            shutil.copyfileobj(f, out)


def materialize(store: FeatureStore, relpaths: set[str], out_dir: str | Path) -> None:
    """Make `out_dir/store` hold exactly `relpaths` (taken from `store`): nothing stale, no leftover temp file."""
    out_dir = Path(out_dir)
    out_store = out_dir / STORE
    if store.root.resolve() != out_dir.resolve():
        shutil.rmtree(out_store, ignore_errors=True)
        for rel in sorted(relpaths):
            _link_or_copy(store.root / rel, out_dir / rel)
        return
    if out_store.is_dir():  # no shared store: the output is the store; prune what this run does not use
        for path in sorted(out_store.rglob("*"), reverse=True):  # files before their folders
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()  # only when empty
            elif path.relative_to(out_dir).as_posix() not in relpaths:
                path.unlink()
