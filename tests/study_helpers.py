"""Helpers of the study tests: a small MELT folder written by the test (tones as audio) with its prepared rows, the
study set built from it, and the app served over real HTTP on a loopback port."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from conftest import write_tone
from loopback import serve_in_thread
from melt.analysis.layout import MELT_COLUMNS
from melt.data.meld import PREPARED_COLUMNS
from melt.study.api import Settings
from melt.study.app import create_app
from melt.study.catalog import load_catalog
from melt.study.items import build_study_set
from melt.study.params import StudyParams
from melt.study.store import StudyStore

EMOTION_CYCLE = ("anger", "joy", "sadness", "fear", "surprise", "disgust", "neutral")


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's 95 % score interval, written out (the report uses scipy's)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def melt_row(split: str, dia: int, utt: int, meld: str, llm: str, audio: str = "", confidence: str = "1.0",
             votes: str | None = None, text: str | None = None) -> dict:
    row = {c: "" for c in MELT_COLUMNS}
    row.update({
        "filename": f"dia{dia}_utt{utt}.wav", "Sr_No.": str(dia * 10 + utt), "Speaker": "ana", "Emotion": meld,
        "Sentiment": "neutral", "Dialogue_ID": str(dia), "Utterance_ID": str(utt), "Season": "1", "Episode": "1",
        "StartTime": "00:00:01,000", "EndTime": "00:00:02,000", "llm_label": llm,
        "Utterance": text or f"Line {dia}-{utt} of the {split} split.", "loudness": "moderate",
        "pitch": "medium pitch", "rhythm_speed": "moderate", "emotional_impact": "calm",
        "llm_votes": votes or json.dumps({llm: 1}), "llm_confidence": confidence, "character_check": "match",
        "annotation_key": f"{split}-{dia}-{utt}", "split": split, "dialogue_id": str(dia), "utterance_id": str(utt),
        "duration_s": "0.3", "audio_path": audio,
    })
    return row


def write_melt_dir(root: Path, rows: list[dict], excluded: list[dict] = (), extra_columns: tuple = ()) -> Path:
    """data/melt/{train,dev,test}.csv under `root` from `rows` (every split gets a file, maybe empty), and
    data/prepared with the same rows kept plus `excluded` (prepared rows the filter dropped: dicts with the key,
    Speaker, Utterance, audio_path and a `reason`)."""
    out, prepared = root / "data" / "melt", root / "data" / "prepared"
    out.mkdir(parents=True, exist_ok=True)
    prepared.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=[*MELT_COLUMNS, *extra_columns])
    kept = pd.DataFrame(rows, columns=list(PREPARED_COLUMNS), dtype=object).fillna("")
    for split in ("train", "dev", "test"):
        frame[frame["split"] == split].to_csv(out / f"{split}.csv", index=False, lineterminator="\n")
        kept[kept["split"] == split].to_csv(prepared / f"{split}.csv", index=False, lineterminator="\n")
    dropped = pd.DataFrame(list(excluded), columns=["reason", "detail", "row", *PREPARED_COLUMNS], dtype=object)
    dropped.fillna("").to_csv(prepared / "excluded.csv", index=False, lineterminator="\n")
    return out


def demo_rows(root: Path, per_label: int = 4, agree: int = 2, seconds: float = 0.3) -> list[dict]:
    """For every MELD emotion `per_label` disagreements (the LLM says the next emotion of the cycle) and `agree`
    agreements, each with a short tone written under `root/audio`."""
    rows = []
    dia = 0
    for i, meld in enumerate(EMOTION_CYCLE):
        other = EMOTION_CYCLE[(i + 1) % len(EMOTION_CYCLE)]
        for n in range(per_label + agree):
            split = ("train", "dev", "test")[n % 3]
            audio = root / "audio" / split / f"dia{dia}_utt{n}.wav"
            write_tone(audio, seconds, freq=200 + 20 * i)
            rows.append(melt_row(split, dia, n, meld, other if n < per_label else meld,
                                 audio=audio.relative_to(root).as_posix()))
        dia += 1
    return rows


def build_study(root: Path, params: StudyParams | None = None, rows: list[dict] | None = None,
                excluded: list[dict] = ()) -> Path:
    """data/melt, data/prepared and data/study under `root`; returns the study folder."""
    write_melt_dir(root, rows if rows is not None else demo_rows(root), excluded)
    build_study_set(params or StudyParams(), root / "data" / "melt", root / "data" / "study", root / "audio",
                    root / "data" / "prepared")
    return root / "data" / "study"


class LiveApp:
    """The app over real HTTP: `url`, its `store`, its `catalog`; `stop()` shuts uvicorn down. `settings` are
    passed to `Settings` (e.g. max_participants=2, play_check="flag")."""

    def __init__(self, root: Path, questions: int = 5, attention: int = 1, db: Path | None = None, **settings):
        self.root = root
        self.store = StudyStore(db or root / "study" / "melt-study.db")
        self.catalog = load_catalog(root / "data" / "study", root, self.store.secret)
        app = create_app(self.store, self.catalog, Settings(questions, attention, **settings))
        self.server, self.thread, port = serve_in_thread(app, log_level="warning")
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ServedProcess:
    """`melt-study serve` in its own process on a free loopback port; `url`, `output()`, `stop()`."""

    def __init__(self, cwd: Path, *args: str):
        import subprocess
        import sys
        import tempfile

        exe = Path(sys.executable).parent / "melt-study"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="melt-study-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([str(exe), *args, "--port", "0"] if "--port" not in args else [str(exe), *args],
                                     cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout_s: float = 60) -> str:
        import re
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(r"serving on (http://[\d.]+:\d+)/", self.output())
            if found and "Application startup complete" in self.output():
                return found.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"melt-study serve exited:\n{self.output()}")
            time.sleep(0.05)
        raise RuntimeError(f"melt-study serve did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> str:
        """SIGINT (uvicorn's graceful shutdown, as Ctrl-C); returns everything the server printed."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)
        self.log.close()
        text = Path(self.log.name).read_text()
        Path(self.log.name).unlink()
        return text


async def simulate_participants(url: str, n: int, double_submit: bool = True, played_s: float = 10.0) -> dict:
    """`n` participants at once through the API, each from its own client address (`X-Forwarded-For`, which
    uvicorn trusts from loopback, as from a reverse proxy: the per-address sign-up limit applies to each): each
    joins, then answers every question in turn (picking an option at random, having played `played_s` seconds
    of the clip), re-sending its first answer concurrently when `double_submit`. Returns what the clients sent
    and what the server said, for counting against the database."""
    import asyncio
    import random

    import httpx

    sent: dict[tuple[str, str], str] = {}
    statuses: list[int] = []
    tokens: list[str] = []
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient, seed: int) -> None:
        import time

        rng = random.Random(seed)
        address = {"X-Forwarded-For": f"10.{seed // 65536 % 256}.{seed // 256 % 256}.{seed % 256}"}
        r = await client.post("/api/participants", json={"consent": True, "gender": rng.choice(["female", "male"])},
                              headers=address)
        r.raise_for_status()
        joined = r.json()
        tokens.append(joined["token"])
        headers = {"Authorization": f"Bearer {joined['token']}", **address}
        for i, q in enumerate(joined["questions"]):
            choice = rng.choice(q["options"])
            body = {"participant_id": joined["participant_id"], "question_id": q["question_id"], "choice": choice,
                    "media_played_s": played_s}
            sent[(joined["participant_id"], q["question_id"])] = choice
            start = time.perf_counter()
            if double_submit and i == 0:
                replies = await asyncio.gather(*(client.post("/api/answers", json=body, headers=headers)
                                                 for _ in range(2)))
            else:
                replies = [await client.post("/api/answers", json=body, headers=headers)]
            latencies.append(time.perf_counter() - start)
            statuses.extend(x.status_code for x in replies)

    # The client drops idle connections well before the server would (no reuse of a connection being closed).
    limits = httpx.Limits(max_connections=2 * n, max_keepalive_connections=2 * n, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(one(client, seed) for seed in range(n)))
    return {"sent": sent, "statuses": statuses, "tokens": tokens, "latencies": latencies}
