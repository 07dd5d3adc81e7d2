"""Shared fixtures: tiny MELD-format corpora written by the tests themselves."""

from __future__ import annotations

from melt.reproducible import EXACT_ENV, STARTED_ENV, configure_torch  # first: sets the exact settings before numpy and torch load

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from filelock import FileLock

configure_torch()   # in-process tests (training, embeddings) get the same bits as the stage scripts

REPO = Path(__file__).resolve().parents[1]
MELD_COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
                "Utterance_ID", "Season", "Episode", "StartTime", "EndTime"]


def meld_dir() -> Path | None:
    """The real MELD CSVs: $MELT_MELD_DIR, else ../shared/data/meld beside the repository."""
    for cand in (os.environ.get("MELT_MELD_DIR"), REPO.parent / "shared" / "data" / "meld"):
        if cand and (Path(cand) / "train_sent_emo.csv").is_file():
            return Path(cand)
    return None


def ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_tone(path: Path, seconds: float, freq: float = 220.0, sr: int = 16000) -> None:
    t = np.arange(int(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), sr, subtype="PCM_16")


def meld_row(sr_no, utterance, speaker, dia, utt, start, end, emotion="neutral"):
    return {"Sr No.": sr_no, "Utterance": utterance, "Speaker": speaker, "Emotion": emotion,
            "Sentiment": "neutral", "Dialogue_ID": dia, "Utterance_ID": utt, "Season": 1,
            "Episode": 1, "StartTime": ts(start) if isinstance(start, float) else start,
            "EndTime": ts(end) if isinstance(end, float) else end}


def write_meld_csv(path: Path, rows: list[dict], encoding: str = "utf-8", columns=MELD_COLUMNS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Three splits; two named speakers with ≥ 10 qualifying train rows, plus rows each rule removes."""
    rows = {"train": [], "dev": [], "test": []}
    for split, n in (("train", 12), ("dev", 3), ("test", 4)):
        t = 10.0
        for i in range(n):
            for speaker in ("Ana", "Ben"):
                rows[split].append(meld_row(len(rows[split]) + 1, f"line number {i} from {speaker}",
                                            speaker, i, len(rows[split]) % 2, t, t + 1.5))
                t += 2.0
    extra = rows["train"]
    extra.append(meld_row(len(extra) + 1, "Too short here", "Ana", 100, 0, 20.0, 20.5))
    extra.append(meld_row(len(extra) + 1, "Oh.", "Ben", 100, 1, 21.0, 23.0))
    extra.append(meld_row(len(extra) + 1, "We all say this", "All", 100, 2, 24.0, 26.0))
    extra.append(meld_row(len(extra) + 1, "I am a rare one", "Cleo", 100, 3, 27.0, 29.0))
    for split, split_rows in rows.items():
        write_meld_csv(tmp_path / f"{split}_sent_emo.csv", split_rows)
    return tmp_path


def run_env() -> dict:
    """Environment for subprocesses: the one the run started with (not melt.reproducible's settings: every stage
    script applies them itself, as on a user's machine), this venv first on PATH, no analytics, a git identity."""
    env = {k: v for k, v in os.environ.items() if k not in EXACT_ENV}
    for key, value in STARTED_ENV.items():
        if value is not None:
            env[key] = value
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com",
               # fixed dates: copies of the same tree get the same commit, as clones of one repository do
               GIT_AUTHOR_DATE="2000-01-01T00:00:00+0000", GIT_COMMITTER_DATE="2000-01-01T00:00:00+0000")
    return env


def run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=kw.pop("env", run_env()), capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def copy_repo(dest: Path) -> Path:
    """A fresh git repository holding this working tree's tracked and unignored files (as a clone would)."""
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "copy"], dest)
    return dest


def pytest_collection_modifyitems(config, items):
    """Order for the two xdist workers: the longest test first (it builds the shared `reproduced` repository,
    then runs one more full pipeline), then the tests that do not need that repository, then those that do
    (by then it is built, so no worker idles waiting for it). Within each, the slow ones (and the Ray group, which
    runs as one unit) first: the last tests handed out are short, so neither worker finishes long before the other."""
    def rank(item) -> tuple[int, int]:
        if item.get_closest_marker("runs_first"):
            return 0, 0
        long = item.get_closest_marker("slow") or item.get_closest_marker("xdist_group")
        return (2 if "reproduced" in item.fixturenames else 1), (0 if long else 1)
    items.sort(key=rank)   # stable: file order within a rank (module fixtures that tests extend keep their order)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, worker_id) -> Path:
    """A fresh copy of the repository after a full offline `dvc repro`, built once per test session and shared
    by the pytest-xdist workers (the first to need it builds it, another that needs it meanwhile waits).
    Read-only: copy it to change anything."""
    if worker_id == "master":   # no xdist
        return _build_reproduced(tmp_path_factory.mktemp("reproduced"))
    shared = tmp_path_factory.getbasetemp().parent   # common to every worker of this session
    repo, done = shared / "reproduced", shared / "reproduced.done"
    with FileLock(shared / "reproduced.lock"):
        if not done.exists():
            shutil.rmtree(repo, ignore_errors=True)   # left by a worker that failed half-way
            repo.mkdir()
            _build_reproduced(repo)
            done.touch()
    return repo


BUILD_TIMEOUT_S = 1800   # a full `dvc repro`: ~2 min on an idle 2-core machine, 10+ min on a heavily shared one


def _build_reproduced(repo: Path) -> Path:
    copy_repo(repo)
    run(["dvc", "repro"], repo, timeout=BUILD_TIMEOUT_S)
    return repo
