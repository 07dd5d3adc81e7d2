"""Throughput of the annotation engine against the loopback OpenAI-compatible server (tests/llm_server.py).

    .venv/bin/python benchmarks/annotate_throughput.py [--requests 2000] [--naive 50] [--cached 10000]

The server runs in its own process (200 ms latency, 3,000 RPM as a one-second token bucket).
Each engine run is a fresh child process with its own answer store, so its peak RSS is its own.
Prints, in one run: a naive sequential `openai` loop, the engine without faults, with 5% 429 + 2%
500 + 1% malformed (429s carrying Retry-After, then retry-after-ms; every 429 pauses the whole run
for that long, as a provider's account-wide limit asks), a client whose rpm is set above the
server's (every 429 comes from the server's own bucket), and a fully cached re-run of --cached
requests (store lookups, the snapshot's import check and its rewrite included).
The limit is min(rpm/60, concurrency/latency) = 50 req/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

LATENCY, RPM, CONCURRENCY = 0.2, 3000, 32
LIMIT = min(RPM / 60, CONCURRENCY / LATENCY)
FAULTS = {"p429": 0.05, "p500": 0.02, "p_malformed": 0.01}


def post(base: str, path: str, obj: dict) -> dict:
    req = urllib.request.Request(base.removesuffix("/v1") + path, data=json.dumps(obj).encode(),
                                 headers={"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def get(base: str, path: str) -> dict:
    return json.loads(urllib.request.urlopen(base.removesuffix("/v1") + path).read())


def make_prompts(root: Path, n: int, base_url: str) -> Path:
    import pandas as pd

    from melt.annotate.params import PromptsParams
    from melt.annotate.requests import write_annotator_prompts as write_prompts   # one annotator (issue 15)

    prepared = root / "prepared"
    prepared.mkdir(parents=True)
    rows = [{"dialogue_id": i // 20, "utterance_id": i % 20, "Speaker": f"speaker{i % 7}", "Season": 1, "Episode": 1,
             "Utterance": f"Line {i}: well, I did not expect to see you here today!"} for i in range(n)]
    pd.DataFrame(rows).to_csv(prepared / "train.csv", index=False)
    for split in ("dev", "test"):
        pd.DataFrame(columns=list(rows[0])).to_csv(prepared / f"{split}.csv", index=False)
    write_prompts(prepared, root / "prompts", PromptsParams(), engine_params(base_url), templates_dir=ROOT / "prompts")
    return root / "prompts"


def engine_params(base_url: str, **kw):
    from melt.annotate.params import AnnotatorSettings as AnnotateParams   # one annotator's settings (issue 15)
    return AnnotateParams(**{"backend": "openai", "base_url": base_url, "concurrency": CONCURRENCY, "rpm": RPM,
                             "tpm": 10_000_000, "timeout_s": 10, "max_retries": 8, "backoff_max_s": 30.0, **kw})


def child(args) -> None:
    """One engine run (in a fresh process): prints its metrics, elapsed time and peak RSS as JSON."""
    from melt.annotate.run import annotate_single as annotate   # one annotator (issue 15)
    work = Path(args.work)
    params = engine_params(args.base_url, store=str(work / args.cache / "store"), **json.loads(args.params))
    started = time.perf_counter()
    out = annotate(params, work / "prompts", work / "out", work / args.cache / "snapshot", work / "report.json",
                   work / "metrics.json", progress=False)
    elapsed = time.perf_counter() - started
    m = {**out["metrics"], "status_ok": out["report"]["status"]["ok"]}
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across exec.
    hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"elapsed": elapsed, "metrics": m, "peak_rss_mb": hwm_kb / 1024}))


def run_engine(base_url: str, work: Path, cache: str, **params) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", "--base-url", base_url, "--work", str(work),
                          "--cache", cache, "--params", json.dumps(params)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def naive(base_url: str, prompts: Path, n: int) -> float:
    import openai
    client = openai.OpenAI(api_key="no-key", base_url=base_url)
    bodies = [json.loads(line)["body"] for line, _ in zip(open(prompts / "train.jsonl"), range(n))]
    started = time.perf_counter()
    for body in bodies:
        client.chat.completions.create(**body)
    return n / (time.perf_counter() - started)


def scenario(base: str, tmp: Path, n: int, i: int, name: str, faults: dict, client: dict) -> None:
    post(base, "/_config", {"latency_s": LATENCY, "rpm": RPM, "seed": i, **faults})
    r = run_engine(base, tmp / "main", f"cache{i}", **client)
    s, m = get(base, "/_stats"), r["metrics"]
    rate = n / r["elapsed"]
    lost = n - m["status_ok"]
    print(f"{name}: {rate:6.2f} req/s = {rate / LIMIT:.3f} of limit; server requests {s['chat_requests']} "
          f"= {s['chat_requests'] / n:.3f} x unique; outcomes {s['outcomes']}; "
          f"prompts without a valid answer {lost}; peak RSS {r['peak_rss_mb']:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--naive", type=int, default=50)
    ap.add_argument("--cached", type=int, default=10_000)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--base-url"), ap.add_argument("--work"), ap.add_argument("--cache"), ap.add_argument("--params")
    args = ap.parse_args()
    if args.child:
        return child(args)

    server = subprocess.Popen([sys.executable, str(ROOT / "tests/llm_server.py")], stdout=subprocess.PIPE, text=True)
    base = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "main").mkdir()
            make_prompts(tmp / "main", args.requests, base)
            print(f"limit: min(rpm/60, concurrency/latency) = min({RPM / 60:.0f}, {CONCURRENCY / LATENCY:.0f}) "
                  f"= {LIMIT:.0f} req/s; {args.requests} unique prompts")

            post(base, "/_config", {"latency_s": LATENCY, "rpm": RPM})
            rate = naive(base, tmp / "main/prompts", args.naive)
            print(f"naive sequential openai loop ({args.naive} requests): {rate:6.2f} req/s = {rate / LIMIT:.2f} of limit")

            scenarios = [("engine, no faults", {}, {}),
                         ("engine, 5% 429 (Retry-After: 1) + 2% 500 + 1% malformed", {**FAULTS, "retry_after": "s"}, {}),
                         ("engine, 5% 429 (retry-after-ms: 250) + 2% 500 + 1% malformed",
                          {**FAULTS, "retry_after": "ms", "retry_after_value": 0.25}, {})]
            for i, (name, faults, client) in enumerate(scenarios):
                scenario(base, tmp, args.requests, i, name, faults, client)

            (tmp / "big").mkdir()
            make_prompts(tmp / "big", args.cached, base)
            post(base, "/_config", {"latency_s": 0.0})
            r = run_engine(base, tmp / "big", "cache", concurrency=64, rpm=1_000_000)
            print(f"fill {args.cached} (no latency, no limit): {r['elapsed']:.1f} s, "
                  f"{args.cached / r['elapsed']:.0f} req/s, peak RSS {r['peak_rss_mb']:.0f} MB")
            post(base, "/_config", {"latency_s": 0.0})
            r = run_engine(base, tmp / "big", "cache")
            s = get(base, "/_stats")
            print(f"fully cached re-run of {args.cached}: {r['elapsed']:.2f} s, server requests {s['chat_requests']}, "
                  f"cache hits {r['metrics']['cache_hits']}, peak RSS {r['peak_rss_mb']:.0f} MB")
            # last, so that its storm of 429s cannot weigh on the other measurements
            scenario(base, tmp, args.requests, len(scenarios),
                     "engine with rpm 6000 against the server's 3000 (429s from its bucket)", {}, {"rpm": 2 * RPM})
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
