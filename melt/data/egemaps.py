"""openSMILE eGeMAPSv02 functionals of one audio file, and the content-hash cache of the `acoustics` stage.

Shared by the `acoustics` stage and the SER `egemaps` backbone (both run it through melt.compute.runner). A file
that is missing, unreadable, empty or silent (all zeros) gets a failure reason; the other files go on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import opensmile

from melt.data.audio import SAMPLE_RATE, AudioError, load_audio
from melt.io import write_json

FEATURE_SET = "eGeMAPSv02"
N_FEATURES = 88
PITCH_FEATURE = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS_FEATURE = "loudness_sma3_amean"
# Results depend on the feature set and the openSMILE build: both name the cache folder.
CACHE_VERSION = f"{FEATURE_SET}-opensmile{opensmile.__version__}"
# Every failure reason starts with one of these, then ": " and the detail.
FAILURE_KINDS = ("missing", "unreadable", "empty", "silent", "corrupt", "opensmile failed", "too short")

_smile: opensmile.Smile | None = None  # one per worker process, built on first use


def _get_smile() -> opensmile.Smile:
    global _smile
    if _smile is None:
        _smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals)
    return _smile


def feature_names() -> list[str]:
    """The 88 eGeMAPSv02 functional names, in openSMILE's order."""
    return list(_get_smile().feature_names)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_file(cache_dir: Path, sha: str) -> Path:
    return cache_dir / CACHE_VERSION / sha[:2] / f"{sha}.json"


def read_cache(cache_dir: Path | None, sha: str) -> dict[str, float] | None:
    if cache_dir is None:
        return None
    try:
        values = json.loads(cache_file(cache_dir, sha).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return values if len(values) == N_FEATURES else None


def write_cache(cache_dir: Path | None, sha: str, values: dict[str, float]) -> None:
    if cache_dir is None:
        return
    write_json(cache_file(cache_dir, sha), values)   # atomic: a killed run never leaves a half file


def read_signal(path: str) -> np.ndarray | str:
    """The 16 kHz signal of a readable file if openSMILE can measure it, else the failure reason (FAILURE_KINDS)."""
    try:
        signal = load_audio(path)
    except AudioError as err:
        return f"unreadable: {err}"
    if signal.size == 0:
        return "empty: no samples"
    if not np.any(signal):
        return "silent: all samples are zero"
    if not np.all(np.isfinite(signal)):
        return "corrupt: non-finite samples"
    return signal


def functionals(signal: np.ndarray) -> dict[str, float] | str:
    """The 88 functionals of one checked signal, or the failure reason."""
    try:
        frame = _get_smile().process_signal(signal, SAMPLE_RATE)
    except Exception as err:  # openSMILE raises generic errors for signals it cannot process
        return f"opensmile failed: {err}"
    values = {k: float(v) for k, v in frame.iloc[0].items()}
    if any(np.isnan(v) for v in values.values()):
        return "too short: openSMILE returned NaN features"
    return values
