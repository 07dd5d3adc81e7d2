"""Pseudo-label throughput through the annotation engine against the loopback OpenAI-compatible server.

    .venv/bin/python benchmarks/pseudolabel_throughput.py [--items 1500]

The server (tests/llm_server.py, answering the sentiment prompt with one word) sleeps 200 ms per request
and enforces 3,000 RPM as a one-second token bucket; the engine runs with 32 concurrent requests, so the
limit is min(rpm/60, concurrency/latency) = 50 req/s. Prints requests/s as a share of that limit, without
faults and with 5% 429 + 2% 500 + 2% out-of-set answers, then a fully cached re-run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import pandas as pd  # noqa: E402

from llm_server import Faults  # noqa: E402
from melt.pretrain.params import PseudolabelParams  # noqa: E402
from melt.pretrain.pseudolabel import pseudolabel  # noqa: E402
from pretrain_helpers import SentimentServer  # noqa: E402

LATENCY, RPM, CONCURRENCY = 0.2, 3000, 32
LIMIT = min(RPM / 60, CONCURRENCY / LATENCY)


def one_run(tmp: Path, server, n: int, tag: str, store: Path) -> tuple[dict, float]:
    transcripts = tmp / "transcripts.csv"
    if not transcripts.exists():
        pd.DataFrame({"item_id": [f"item{i:05d}" for i in range(n)],
                      "text": [f"Episode {i}: honestly, the new kitchen is not bad at all." for i in range(n)]}
                     ).to_csv(transcripts, index=False)
    params = PseudolabelParams(backend="openai", base_url=server.base_url, concurrency=CONCURRENCY, rpm=RPM,
                               tpm=10_000_000, timeout_s=10, max_retries=8, backoff_base_s=0.05, backoff_max_s=1.0)
    out = tmp / tag
    started = time.monotonic()
    summary = pseudolabel(params, "bench", transcripts, store=str(store), out_dir=out, metrics_path=out / "m.json",
                          report_dir=out / "rep", progress=False)
    return summary, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1500)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; limit {LIMIT:.0f} req/s "
          f"({RPM} RPM, {CONCURRENCY} concurrent, {LATENCY * 1000:.0f} ms latency)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        scenarios = [("no faults", Faults(latency_s=LATENCY, rpm=RPM)),
                     ("5% 429, 2% 500, 2% out-of-set", Faults(latency_s=LATENCY, rpm=RPM, p429=0.05, p500=0.02,
                                                                p_out_of_set=0.02, retry_after_value=0.5))]
        for i, (name, faults) in enumerate(scenarios):
            with SentimentServer(faults) as server:
                s, seconds = one_run(tmp, server, args.items, f"run{i}", tmp / f"store{i}")
                rate = s["requests_sent"] / seconds
                print(f"{name}: {args.items} items, {s['requests_sent']} requests in {seconds:.1f} s = {rate:.1f} req/s "
                      f"({rate / LIMIT:.0%} of the limit); {s['labelled']} labelled, {s['failed']} not; "
                      f"server saw {server.chat_requests} requests")
                if i == 0:
                    s2, seconds2 = one_run(tmp, server, args.items, "cached", tmp / "store0")
                    print(f"cached re-run: {s2['requests_sent']} requests sent, {s2['cache_hits']} from the store, "
                          f"{seconds2:.2f} s")


if __name__ == "__main__":
    main()
