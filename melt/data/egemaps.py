"""openSMILE eGeMAPSv02 functionals per audio file: parallel worker processes, content-hash cache.

Shared by the `acoustics` stage and the SER `egemaps` backbone. A file that is missing, unreadable,
empty or silent (all zeros) becomes a failure row with its reason; the other files go on.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opensmile
import pandas as pd
from tqdm import tqdm

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


@dataclass(frozen=True)
class _Result:
    path: str
    sha256: str | None
    values: dict[str, float] | None
    reason: str | None


def _cache_file(cache_dir: Path, sha: str) -> Path:
    return cache_dir / CACHE_VERSION / sha[:2] / f"{sha}.json"


def _read_cache(cache_dir: Path | None, sha: str) -> dict[str, float] | None:
    if cache_dir is None:
        return None
    try:
        values = json.loads(_cache_file(cache_dir, sha).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return values if len(values) == N_FEATURES else None


def _write_cache(cache_dir: Path | None, sha: str, values: dict[str, float]) -> None:
    if cache_dir is None:
        return
    # Atomic: two workers (or two runs) meeting on the same content never leave a half file.
    write_json(_cache_file(cache_dir, sha), values)


def _extract_one(path: str, cache_dir: Path | None) -> _Result:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return _Result(path, None, None, f"missing: no file {path}")
    except OSError as err:
        return _Result(path, None, None, f"unreadable: {err}")
    sha = sha256_bytes(data)
    cached = _read_cache(cache_dir, sha)
    if cached is not None:
        return _Result(path, sha, cached, None)
    try:
        signal = load_audio(path)
    except AudioError as err:
        return _Result(path, sha, None, f"unreadable: {err}")
    if signal.size == 0:
        return _Result(path, sha, None, "empty: no samples")
    if not np.any(signal):
        return _Result(path, sha, None, "silent: all samples are zero")
    if not np.all(np.isfinite(signal)):
        return _Result(path, sha, None, "corrupt: non-finite samples")
    try:
        frame = _get_smile().process_signal(signal, SAMPLE_RATE)
    except Exception as err:  # openSMILE raises generic errors for signals it cannot process
        return _Result(path, sha, None, f"opensmile failed: {err}")
    values = {k: float(v) for k, v in frame.iloc[0].items()}
    if any(np.isnan(v) for v in values.values()):
        return _Result(path, sha, None, "too short: openSMILE returned NaN features")
    _write_cache(cache_dir, sha, values)
    return _Result(path, sha, values, None)


def _extract_chunk(paths: list[str], cache_dir: Path | None) -> list[_Result]:
    return [_extract_one(p, cache_dir) for p in paths]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class Extraction:
    """Features (88 columns, indexed by path), failures (path, reason), content hash per path."""

    features: pd.DataFrame
    failures: pd.DataFrame
    sha256: pd.Series


def extract(paths, workers: int = 1, cache_dir: Path | None = None, progress: bool = True,
            chunk_size: int = 8) -> Extraction:
    """Like `egemaps_functionals`, also returning each file's sha256 (None when unreadable)."""
    paths = [str(p) for p in paths]
    unique = list(dict.fromkeys(paths))
    cache_dir = Path(cache_dir) if cache_dir is not None else None
    bar = tqdm(total=len(unique), desc="eGeMAPS", unit="file", disable=not progress)
    results: list[_Result] = []
    if workers <= 1 or len(unique) <= 1:
        for p in unique:
            results.append(_extract_one(p, cache_dir))
            bar.update()
    else:
        # Chunks amortise inter-process overhead; "fork" reuses the parent's imports (opensmile takes ~1 s).
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_extract_chunk, chunk, cache_dir) for chunk in _chunks(unique, chunk_size)]
            for fut in as_completed(futures):
                chunk_results = fut.result()
                results.extend(chunk_results)
                bar.update(len(chunk_results))
    bar.close()

    ok = {r.path: r.values for r in results if r.values is not None}
    columns = feature_names()
    features = pd.DataFrame.from_dict(ok, orient="index", columns=columns, dtype="float64")
    features = features.reindex([p for p in unique if p in ok])
    features.index.name = "path"
    failures = pd.DataFrame([{"path": r.path, "reason": r.reason} for r in results if r.values is None],
                            columns=["path", "reason"])
    sha = pd.Series({r.path: r.sha256 for r in results}, name="audio_sha256", dtype="object").reindex(unique)
    return Extraction(features, failures, sha)


def egemaps_functionals(paths, workers: int = 1, cache_dir: Path | None = None,
                        progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """openSMILE eGeMAPSv02 functionals (88 columns) per audio file, in parallel worker processes.
    Returns (features indexed by the path strings as given, failures with columns path, reason).
    cache_dir: per-file results cached by audio content hash (sha256 of the bytes), so unchanged audio is never re-extracted."""
    result = extract(paths, workers=workers, cache_dir=cache_dir, progress=progress)
    return result.features, result.failures
