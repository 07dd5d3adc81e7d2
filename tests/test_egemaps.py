"""eGeMAPS extraction (melt.data.egemaps through melt.acoustics.extract): real openSMILE on synthetic tones;
failures, parallel worker processes, content-hash cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melt.acoustics.extract import extract
from melt.compute.params import ActorResources
from melt.data.egemaps import CACHE_VERSION, LOUDNESS_FEATURE, N_FEATURES, PITCH_FEATURE, sha256_bytes

SR = 16000


def tone(path: Path, freq: float, amp: float, seconds: float = 1.5) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, amp * np.sin(2 * np.pi * freq * t), SR, subtype="PCM_16")
    return path


@pytest.fixture
def audio_set(tmp_path: Path) -> dict[str, Path]:
    files = {
        "low": tone(tmp_path / "low.wav", 110.0, 0.05),
        "high": tone(tmp_path / "high.wav", 330.0, 0.5),
        "mid": tone(tmp_path / "mid.wav", 200.0, 0.2),
        "silent": tmp_path / "silent.wav",
        "corrupt": tmp_path / "corrupt.wav",
        "missing": tmp_path / "missing.wav",
    }
    sf.write(files["silent"], np.zeros(SR), SR, subtype="PCM_16")
    files["corrupt"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return files


def test_features_and_failures(audio_set):
    paths = [str(p) for p in audio_set.values()]
    result = extract(paths, resources=ActorResources(actors=1), progress=False)
    features, failures = result.features, result.failures
    assert features.shape == (3, N_FEATURES)
    assert list(features.index) == [str(audio_set[k]) for k in ("low", "high", "mid")]
    # Higher tone → higher F0 (semitones), louder tone → higher loudness.
    f0, loud = features[PITCH_FEATURE], features[LOUDNESS_FEATURE]
    assert f0[str(audio_set["low"])] < f0[str(audio_set["mid"])] < f0[str(audio_set["high"])]
    assert loud[str(audio_set["low"])] < loud[str(audio_set["mid"])] < loud[str(audio_set["high"])]
    reasons = dict(zip(failures["path"], failures["reason"]))
    assert set(reasons) == {str(audio_set[k]) for k in ("silent", "corrupt", "missing")}
    assert reasons[str(audio_set["silent"])].startswith("silent")
    assert reasons[str(audio_set["corrupt"])].startswith("unreadable")
    assert reasons[str(audio_set["missing"])].startswith("missing")


def test_two_workers_match_one(audio_set):
    paths = [str(audio_set[k]) for k in ("low", "high", "mid", "silent")] * 3  # duplicates are extracted once
    one = extract(paths, resources=ActorResources(actors=1, batch_size=1), progress=False)
    two = extract(paths, resources=ActorResources(actors=2, batch_size=1), progress=False)
    assert list(two.features.index) == list(one.features.index)
    np.testing.assert_array_equal(two.features.to_numpy(), one.features.to_numpy())
    assert list(two.failures["path"]) == [str(audio_set["silent"])]
    assert two.sha256[str(audio_set["low"])] == sha256_bytes(audio_set["low"].read_bytes())


def test_cache_by_content_hash(audio_set, tmp_path):
    cache = tmp_path / "cache"
    low = audio_set["low"]
    first = extract([low], cache_dir=cache, progress=False).features
    entry = cache / CACHE_VERSION / sha256_bytes(low.read_bytes())[:2] / f"{sha256_bytes(low.read_bytes())}.json"
    assert entry.is_file()
    # Plant a marker value in the cache entry: a copy of the same bytes under another name must hit it.
    values = json.loads(entry.read_text())
    values[PITCH_FEATURE] = -123.0
    entry.write_text(json.dumps(values))
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(low.read_bytes())
    again = extract([copy], cache_dir=cache, progress=False).features
    assert again.loc[str(copy), PITCH_FEATURE] == -123.0
    # Changed audio → a new hash → extracted afresh.
    tone(copy, 300.0, 0.3)
    fresh = extract([copy], cache_dir=cache, progress=False).features
    assert fresh.loc[str(copy), PITCH_FEATURE] > first.loc[str(low), PITCH_FEATURE]
