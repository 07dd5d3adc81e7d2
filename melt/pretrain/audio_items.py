"""One audio file of an unlabelled corpus: its content hash, duration and a usable 16 kHz signal, or why not."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melt.data.audio import SAMPLE_RATE, AudioError, load_audio


@dataclass(frozen=True)
class AudioItem:
    sha256: str | None
    duration_s: float | None
    signal: np.ndarray | None   # mono float32 at 16 kHz, None when the file is not usable
    reason: str | None          # why the file is not usable (`unreadable: ...`, `empty: ...`, `silent: ...`)


def inspect_audio(path: str | Path, keep_signal: bool = True) -> AudioItem:
    """Read and check one file; the reasons use the same words as the eGeMAPS extraction's failures."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return AudioItem(None, None, None, f"missing: no file {path}")
    except OSError as err:
        return AudioItem(None, None, None, f"unreadable: {err}")
    sha = hashlib.sha256(data).hexdigest()
    try:
        signal = load_audio(path)
    except AudioError as err:
        return AudioItem(sha, None, None, f"unreadable: {err}")
    duration = round(signal.size / SAMPLE_RATE, 3)
    if signal.size == 0:
        return AudioItem(sha, 0.0, None, "empty: no samples")
    if not np.all(np.isfinite(signal)):
        return AudioItem(sha, duration, None, "corrupt: non-finite samples")
    if not np.any(signal):
        return AudioItem(sha, duration, None, "silent: all samples are zero")
    return AudioItem(sha, duration, signal if keep_signal else None, None)
