"""Throughput of the study app under concurrent participants (`melt-study serve` in its own process).

    .venv/bin/python benchmarks/study_load.py [--participants 50] [--questions 21]

Builds a study set from synthetic MELT rows (tests/study_helpers.py), then, against a fresh database each time:
1 participant alone (the baseline), and N participants joining and answering at once, each re-sending its first
answer concurrently (a double submit). Prints answers stored vs sent, answers/s, latency percentiles, and the
ratio of concurrent to single-participant throughput measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from melt.study.params import StudyParams  # noqa: E402
from study_helpers import ServedProcess, build_study, simulate_participants  # noqa: E402


def run(root: Path, participants: int, questions: int, name: str) -> dict:
    db = root / f"{name}.db"
    server = ServedProcess(root, "--db", str(db), "serve", "--questions", str(questions), "--attention", "2",
                           "--no-access-log")
    try:
        start = time.perf_counter()
        result = asyncio.run(simulate_participants(server.url, participants))
        seconds = time.perf_counter() - start
    finally:
        server.stop()
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    lat = sorted(result["latencies"])
    return {"participants": participants, "sent": len(result["sent"]), "stored": stored, "seconds": seconds,
            "answers_per_s": stored / seconds, "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "max_ms": 1000 * lat[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--questions", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_study(root, StudyParams(per_label=args.questions, attention_items=4))
        print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
        rows = [run(root, 1, args.questions, "single"), run(root, args.participants, args.questions, "concurrent")]
    print(f"{'participants':>12} {'sent':>6} {'stored':>6} {'seconds':>8} {'answers/s':>10} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'max ms':>7}")
    for r in rows:
        print(f"{r['participants']:>12} {r['sent']:>6} {r['stored']:>6} {r['seconds']:>8.2f} {r['answers_per_s']:>10.1f} "
              f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['max_ms']:>7.1f}")
    lost = rows[1]["sent"] - rows[1]["stored"]
    print(f"answers lost under load: {lost}; throughput concurrent / single: "
          f"{rows[1]['answers_per_s'] / rows[0]['answers_per_s']:.2f}x")


if __name__ == "__main__":
    main()
