"""The acoustics chain on synthetic tones of known pitch and loudness (real openSMILE), and its rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from melt.acoustics.descriptions import RulesError, load_rules, map_description
from melt.acoustics.params import DEFAULT_RULES, AcousticsParams
from melt.acoustics.run import run
from melt.compute.params import ComputeParams
from melt.config import ParamsError, parse_params
from melt.data.egemaps import N_FEATURES

SR = 16000
SPLITS = ("train", "dev", "test")
PITCH_WORDS = {"low": "low-pitched, deep", "mid": "moderate", "high": "high-pitched"}
LOUDNESS_WORDS = {"low": "soft", "mid": "normal", "high": "loud, almost shouting"}


def write_tone(path: Path, freq: float, amp: float, seconds: float = 1.0) -> None:
    t = np.arange(int(seconds * SR)) / SR
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, amp * np.sin(2 * np.pi * freq * t), SR, subtype="PCM_16")


def levels_30_40_30(n: int, rng) -> list[str]:
    k = round(0.3 * n)
    return list(rng.permutation(["low"] * k + ["mid"] * (n - 2 * k) + ["high"] * k))


def write_corpus(root: Path, pitch_hz: dict, amps: dict, speakers: dict, n_per_split: int = 10,
                 describe=None, seed: int = 0) -> tuple[Path, Path]:
    """Prepared + MELT-layout CSVs over tones whose levels are known.

    speakers: name → base-frequency factor (a voice); each speaker's rows are cut 30/40/30 on their own.
    describe(row) → (pitch text, loudness text); default: the words of the row's known levels.
    """
    rng = np.random.default_rng(seed)
    prepared, melt = {s: [] for s in SPLITS}, {s: [] for s in SPLITS}
    for speaker, factor in speakers.items():
        n = n_per_split * len(SPLITS)
        pitch, loud = levels_30_40_30(n, rng), levels_30_40_30(n, rng)
        for i in range(n):
            split = SPLITS[i % 3]
            dia, utt = len(prepared[split]), 0
            path = root / "audio" / split / f"dia{dia}_utt{utt}.wav"
            jitter = rng.uniform(0.97, 1.03)
            write_tone(path, pitch_hz[pitch[i]] * factor * jitter, amps[loud[i]] * rng.uniform(0.9, 1.1))
            key = {"split": split, "dialogue_id": dia, "utterance_id": utt}
            prepared[split].append({**key, "filename": path.name, "Speaker": speaker, "audio_path": str(path)})
            row = {"pitch_level": pitch[i], "loudness_level": loud[i]}
            p_text, l_text = describe(row) if describe else (PITCH_WORDS[pitch[i]], LOUDNESS_WORDS[loud[i]])
            melt[split].append({**key, "Speaker": speaker, "pitch": p_text, "loudness": l_text})
    for split in SPLITS:
        pd.DataFrame(prepared[split]).to_csv(root / "prepared" / f"{split}.csv", index=False) if (
            (root / "prepared").mkdir(exist_ok=True) or True) else None
        pd.DataFrame(melt[split]).to_csv(root / "melt" / f"{split}.csv", index=False) if (
            (root / "melt").mkdir(exist_ok=True) or True) else None
    return root / "prepared", root / "melt"


def add_bad_rows(root: Path) -> None:
    """One row without audio, one silent file, one corrupt file, one unmappable and one missing description."""
    prepared = pd.read_csv(root / "prepared" / "test.csv")
    melt = pd.read_csv(root / "melt" / "test.csv")
    silent, corrupt = root / "audio" / "test" / "silent.wav", root / "audio" / "test" / "corrupt.wav"
    sf.write(silent, np.zeros(SR), SR, subtype="PCM_16")
    corrupt.write_bytes(b"RIFF0000WAVEfmt garbage")
    extra = [(900, ""), (901, str(silent)), (902, str(corrupt))]
    for dia, path in extra:
        prepared.loc[len(prepared)] = {"split": "test", "dialogue_id": dia, "utterance_id": 0,
                                       "filename": f"dia{dia}_utt0.wav", "Speaker": "ana", "audio_path": path}
        melt.loc[len(melt)] = {"split": "test", "dialogue_id": dia, "utterance_id": 0, "Speaker": "ana",
                               "pitch": "high-pitched", "loudness": "soft"}
    melt.loc[0, "pitch"] = "varied, rising"
    melt.loc[1, "loudness"] = None
    prepared.to_csv(root / "prepared" / "test.csv", index=False)
    melt.to_csv(root / "melt" / "test.csv", index=False)


def run_chain(root: Path, prepared: Path, melt: Path, **params) -> dict:
    """The stage's library entry point; returns the report (the headline metrics are checked against it)."""
    params = AcousticsParams(**{"cache_dir": root / "cache", **params})
    report = run(params, prepared, melt, features_path=root / "features" / "egemaps.parquet",
                 out_dir=root / "out", metrics_path=root / "metrics" / "acoustics.json",
                 report_path=root / "reports" / "acoustics.json", plots_dir=root / "reports", progress=False)
    headline = json.loads((root / "metrics" / "acoustics.json").read_text())
    assert headline == {name: {"uar": report["splits"]["all"][name]["uar"]} for name in ("pitch", "loudness")}
    return report


TONE_PITCH = {"low": 110.0, "mid": 180.0, "high": 300.0}
TONE_AMPS = {"low": 0.02, "mid": 0.08, "high": 0.35}


def test_known_tones_score_high_and_bad_audio_is_recorded(tmp_path):
    prepared, melt = write_corpus(tmp_path, TONE_PITCH, TONE_AMPS, {"ana": 1.0})
    add_bad_rows(tmp_path)
    metrics = run_chain(tmp_path, prepared, melt)

    assert metrics == json.loads((tmp_path / "reports" / "acoustics.json").read_text())
    for name in ("pitch", "loudness"):
        assert metrics["splits"]["all"][name]["uar"] >= 0.9, metrics["splits"]["all"][name]
    test_pitch = metrics["splits"]["test"]["pitch"]
    assert (test_pitch["no_audio"], test_pitch["audio_failed"]) == (1, 2)
    assert test_pitch["unmappable"] == 1 and test_pitch["rows"] == 13
    assert metrics["splits"]["test"]["loudness"]["missing_description"] == 1
    assert metrics["unmappable"]["pitch"] == [{"description": "varied, rising", "count": 1, "reason": "no rule matched"}]
    assert metrics["audio"]["test"] == {"prepared": 13, "measured": 10, "no_audio": 1, "audio_failed": 2}
    reasons = metrics["audio_failure_reasons"]
    assert (reasons["no audio"], reasons["silent"], reasons["unreadable"], reasons["missing"]) == (1, 1, 1, 0)

    failures = pd.read_csv(tmp_path / "out" / "audio_failures.csv").set_index("dialogue_id")["reason"]
    assert failures[900].startswith("no audio") and failures[901].startswith("silent")
    assert failures[902].startswith("unreadable")

    table = pd.read_parquet(tmp_path / "features" / "egemaps.parquet")
    assert len(table) == 30 and table.shape[1] == 4 + 1 + N_FEATURES
    assert table["audio_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    confusion = pd.read_csv(tmp_path / "reports" / "acoustics_confusion_pitch.csv")
    assert list(confusion.columns) == ["split", "measured", "described"]
    assert len(confusion) == metrics["splits"]["all"]["pitch"]["compared"]


def test_speaker_normalization_compares_each_voice_with_itself(tmp_path):
    # Two voices an octave apart, described relative to their own range: raw bins mix the voices.
    prepared, melt = write_corpus(tmp_path, TONE_PITCH, TONE_AMPS, {"ana": 0.7, "ben": 1.4}, n_per_split=10)
    raw = run_chain(tmp_path, prepared, melt, normalize="none")["splits"]["all"]["pitch"]["uar"]
    per_speaker = run_chain(tmp_path, prepared, melt, normalize="speaker")["splits"]["all"]["pitch"]["uar"]
    assert per_speaker >= 0.9
    assert raw < per_speaker - 0.2


@pytest.mark.parametrize("text, level", [
    ("High-pitched, shrill", "high"), ("deep and low", "low"), ("Moderate", "mid"), ("mid-range", "mid"),
    ("slightly raised, rising", "high"), ("not high at all, deep", "low"),
])
def test_pitch_rules(text, level):
    assert map_description(text, load_rules(DEFAULT_RULES)["pitch"]).level == level


@pytest.mark.parametrize("text, level, reason", [
    ("soft-spoken", "low", None), ("Booming", "high", None), ("normal volume", "mid", None),
    ("not very loud", None, "no rule matched"), ("moderate to loud", None, "conflicting levels: mid, high"),
    ("trembling", None, "no rule matched"),
])
def test_loudness_rules(text, level, reason):
    mapping = map_description(text, load_rules(DEFAULT_RULES)["loudness"])
    assert (mapping.level, mapping.reason) == (level, reason)


def test_bad_rules_file_is_named(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("pitch:\n  - {pattern: 'high', level: loud}\nloudness: []\n")
    with pytest.raises(RulesError, match=r"rules.yaml: pitch rule 1: level 'loud'"):
        load_rules(bad)
    bad.write_text("pitch:\n  - {pattern: '(high', level: high}\nloudness: []\n")
    with pytest.raises(RulesError, match="bad pattern"):
        load_rules(bad)


def test_params_validate():
    assert parse_params({"acoustics": {"normalize": "speaker"}}).acoustics.normalize == "speaker"
    with pytest.raises(ParamsError, match="acoustics.normalize"):
        parse_params({"acoustics": {"normalize": "global"}})
    with pytest.raises(ParamsError, match="low_quantile"):
        parse_params({"acoustics": {"low_quantile": 0.8, "high_quantile": 0.7}})


# --- The demo corpus: descriptions built from its known prosody (demo/sitcom/prosody.csv) ---

DEMO = Path(__file__).resolve().parents[1] / "demo" / "sitcom"
PHRASES = {
    "pitch": {"low": ["low-pitched", "deep", "low and gravelly"], "mid": ["moderate", "normal pitch", "mid-range"],
              "high": ["high-pitched", "shrill", "raised, squeaky"]},
    "loudness": {"low": ["soft", "quiet, almost a whisper", "soft-spoken"], "mid": ["moderate", "normal volume", "conversational"],
                 "high": ["loud", "booming", "shouting"]},
}


@pytest.fixture(scope="module")
def demo_prepared(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The demo through the real prepare stage, and its rows joined with the generator's known levels."""
    if not (DEMO / "prosody.csv").is_file():
        pytest.skip("demo/sitcom/prosody.csv not generated")
    from melt.data.params import DataParams, PrepareParams
    from melt.data.prepare import run as prepare

    root = tmp_path_factory.mktemp("demo_acoustics")
    cwd = os.getcwd()
    os.chdir(DEMO.parents[1])  # DataParams' demo paths are relative to the repository root
    try:
        prepare(DataParams(), PrepareParams(), out_dir=root / "prepared", metrics_path=root / "prepare.json")
    finally:
        os.chdir(cwd)
    prosody = pd.read_csv(DEMO / "prosody.csv").rename(columns={"Dialogue_ID": "dialogue_id", "Utterance_ID": "utterance_id"})
    prepared = pd.concat([pd.read_csv(root / "prepared" / f"{s}.csv") for s in SPLITS], ignore_index=True)
    rows = prepared[["split", "dialogue_id", "utterance_id"]].merge(
        prosody[["split", "dialogue_id", "utterance_id", "pitch_level", "loudness_level"]],
        on=["split", "dialogue_id", "utterance_id"], how="left", validate="one_to_one")
    assert rows["pitch_level"].notna().all(), "every prepared demo row has a known prosody"
    return root, rows


def write_melt(root: Path, rows: pd.DataFrame, pitch: list[str], loudness: list[str]) -> Path:
    melt = rows[["split", "dialogue_id", "utterance_id"]].assign(pitch=pitch, loudness=loudness)
    (root / "melt").mkdir(exist_ok=True)
    for split in SPLITS:
        melt[melt["split"] == split].to_csv(root / "melt" / f"{split}.csv", index=False)
    return root / "melt"


def demo_descriptions(rows: pd.DataFrame, name: str) -> list[str]:
    return [PHRASES[name][level][i % 3] for i, level in enumerate(rows[f"{name}_level"])]


def test_demo_known_prosody_scores_high_and_shuffled_is_near_chance(demo_prepared):
    root, rows = demo_prepared
    known = run_chain(root, root / "prepared",
                      write_melt(root, rows, demo_descriptions(rows, "pitch"), demo_descriptions(rows, "loudness")))
    for name in ("pitch", "loudness"):
        m = known["splits"]["all"][name]
        assert m["compared"] == len(rows) and m["unmappable"] == 0, m
        assert m["uar"] >= 0.9, m

    rng = np.random.default_rng(7)
    shuffled = run_chain(root, root / "prepared",
                         write_melt(root, rows, list(rng.permutation(demo_descriptions(rows, "pitch"))),
                                    list(rng.permutation(demo_descriptions(rows, "loudness")))))
    for name in ("pitch", "loudness"):
        assert shuffled["splits"]["all"][name]["uar"] < 0.5, shuffled["splits"]["all"][name]


def test_unvoiced_and_speaker_baseline_statuses():
    from melt.acoustics.levels import FEATURES
    from melt.acoustics.validate import acoustic_levels, describe_levels, join

    rows = pd.DataFrame({"split": "test", "dialogue_id": range(6), "utterance_id": 0,
                         "speaker": ["ana"] * 4 + ["ben", "cleo"],
                         "audio_status": ["measured"] * 5 + ["no_audio"]})
    features = pd.DataFrame({FEATURES["pitch"]: [30.0, 32.0, 0.0, 35.0, 40.0, None],
                             FEATURES["loudness"]: [0.2, 0.4, 0.3, 0.8, 0.5, None]})
    raw, _ = acoustic_levels(rows, features, "none", 0.3, 0.7)
    assert list(raw["pitch_status"]) == ["measured", "measured", "unvoiced", "measured", "measured", "no_audio"]
    assert raw["pitch_acoustic"].notna().sum() == 4 and raw["loudness_acoustic"].notna().sum() == 5
    z, _ = acoustic_levels(rows, features, "speaker", 0.3, 0.7)
    # ben has a single utterance: no per-speaker baseline to compare with
    assert z.loc[4, "pitch_status"] == "no_speaker_baseline" and pd.isna(z.loc[4, "pitch_acoustic"])

    melt = pd.DataFrame({"split": "test", "dialogue_id": [0, 99], "utterance_id": 0,
                         "pitch": ["high", "low"], "loudness": ["soft", ""]})
    joined = join(describe_levels(melt, load_rules(DEFAULT_RULES)), raw.drop(columns=["audio_status"]))
    assert list(joined["pitch_status"]) == ["measured", "not_in_prepared"]
    assert list(joined["loudness_description_status"]) == ["mapped", "missing_description"]


def test_bad_melt_csv_is_named(tmp_path):
    from melt.acoustics.run import read_melt

    (tmp_path / "melt").mkdir()
    for split in SPLITS:
        pd.DataFrame({"split": [split] * 2, "dialogue_id": [0, 0], "utterance_id": [0, 1],
                      "pitch": "high", "loudness": "loud"}).to_csv(tmp_path / "melt" / f"{split}.csv", index=False)
    assert len(read_melt(tmp_path / "melt")) == 6
    pd.DataFrame({"split": ["dev"] * 2, "dialogue_id": [0, 0], "utterance_id": [1, 1],
                  "pitch": "high", "loudness": "loud"}).to_csv(tmp_path / "melt" / "dev.csv", index=False)
    with pytest.raises(ValueError, match=r"dev.csv: line 3 repeats"):
        read_melt(tmp_path / "melt")
    pd.DataFrame({"split": ["dev"], "dialogue_id": [0], "utterance_id": [1]}).to_csv(tmp_path / "melt" / "dev.csv", index=False)
    with pytest.raises(ValueError, match=r"dev.csv: missing column\(s\) \['pitch', 'loudness'\]"):
        read_melt(tmp_path / "melt")


def test_uar_counts_only_levels_present_in_the_measurement():
    from melt.acoustics.validate import scores

    # measured low/mid, described low/high: recall low 1.0, mid 0.0 → 0.5 (a described-only level is no class)
    assert scores(pd.Series(["low", "mid"]), pd.Series(["low", "high"]))["uar"] == 0.5


# --- Binning: percentile rank with a tie rule (hand-worked examples) ---

@pytest.mark.parametrize("values, expected", [
    (list(range(1, 11)), "LLLMMMMHHH"),                 # no ties: the exact 3 / 4 / 3 split
    ([1, 2, 3, 3, 3, 4, 5, 6, 7, 8], "LLMMMMMHHH"),     # 3s span ranks 3-5 (mid-rank 4, 35 %): mid, never split
    ([1, 1, 1, 1, 2, 3, 4, 5, 6, 7], "LLLLMMMHHH"),     # 1s span ranks 1-4 (mid-rank 2.5, 20 %): low
    ([1] * 5 + [2] * 5, "LLLLLHHHHH"),                  # two distinct values: mid-ranks 25 % / 75 %, no middle
    ([7.5] * 6, "MMMMMM"),                              # all equal: 50 %
    ([4.2], "M"),                                       # a single value: 50 %
    ([2, 1], "HL"),                                     # 25 % / 75 % (symmetric, order-free)
    ([1, 2, 3], "LMH"),
    ([1, 2, 3, 4, 5], "LMMMH"),                         # 30 % and 70 % sit exactly on the cuts: mid
])
def test_bin_levels_tie_rule(values, expected):
    from melt.acoustics.levels import bin_levels

    names = {"L": "low", "M": "mid", "H": "high"}
    assert list(bin_levels(pd.Series(values, dtype="float64"), 0.3, 0.7)) == [names[c] for c in expected]


def test_bin_levels_leaves_unmeasured_rows_out():
    from melt.acoustics.levels import bin_levels

    got = bin_levels(pd.Series([None, 3.0, 1.0, 2.0], dtype="float64"), 0.3, 0.7)
    assert pd.isna(got[0]) and list(got[1:]) == ["high", "low", "mid"]  # n = 3 measured values


def test_relative_cache_dir_is_the_repository_store_inside_an_experiment(tmp_path, monkeypatch):
    """`dvc exp run --temp/--queue` runs in a copy (cwd elsewhere) with $DVC_ROOT = the repository: a relative
    acoustics.cache_dir must land in the repository's cache, shared by every experiment."""
    from melt.acoustics.run import measure, read_prepared
    from melt.data.egemaps import CACHE_VERSION

    prepared, _ = write_corpus(tmp_path / "corpus", TONE_PITCH, TONE_AMPS, {"ana": 1.0}, n_per_split=1)
    repo, temp_copy = tmp_path / "repo", tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpx"
    temp_copy.mkdir(parents=True)
    monkeypatch.chdir(temp_copy)
    monkeypatch.setenv("DVC_ROOT", str(repo))
    rows = read_prepared(prepared)
    table, *_ = measure(rows, AcousticsParams(cache_dir=Path("cache/egemaps")), ComputeParams(), progress=False)
    cached = sorted(p.stem for p in (repo / "cache" / "egemaps" / CACHE_VERSION).rglob("*.json"))
    assert cached == sorted(set(table["audio_sha256"])) and len(cached) == 3
    assert not (temp_copy / "cache").exists()
