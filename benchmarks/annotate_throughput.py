"""Throughput of the annotation engine under real-world limits, driven through `melt-annotate` (the CLI).

    .venv/bin/python benchmarks/annotate_throughput.py [--requests 2000] [--only clean,hang,...]

Each loopback server (tests/llm_server.py) runs in its own process: 200 ms latency, a limit of 50 req/s (a
3,000 RPM bucket of one second, 429 + retry-after-ms above it), the engine at concurrency 32 and rpm 3000
(so the limit is min(rpm/60, concurrency/latency) = 50 req/s per endpoint). Every scenario is a fresh
`python -m melt.annotate.cli` run with its own store; its rate is prompts / the run's own seconds (the CLI's
summary: reading, answering, writing; Python's start-up excluded), printed as a ratio to the limit, with the
prompts left without an answer (must be 0) and what the server saw. Then, in the same run: the group-commit
fsync's cost (a fill without latency or limit, fsync on / off) and a fully cached re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LATENCY, RPM, CONCURRENCY = 0.2, 3000, 32
LIMIT = min(RPM / 60, CONCURRENCY / LATENCY)
FAULTS = {"p429": 0.05, "p500": 0.02, "p_malformed": 0.01, "retry_after": "s", "retry_after_value": 1.0}

# name → (faults of endpoint 1, faults of endpoint 2 or None, extra CLI options, target, what the target is)
SCENARIOS = {
    "clean": ({}, None, [], 0.95, "of the limit"),
    "faults": (FAULTS, None, ["--response-format", "json_object"], 0.90,
               "of the limit (5 % 429 Retry-After: 1, 2 % 500, 1 % malformed JSON re-asked)"),
    "client2x": ({"ratelimit_headers": True}, None, ["--rpm", str(2 * RPM)], 0.95,
                 "of the server's limit, client rpm 6000 vs 3000, x-ratelimit headers"),
    "client2x_noheaders": ({}, None, ["--rpm", str(2 * RPM)], 0.95,
                           "of the server's limit, client rpm 6000 vs 3000, no headers (AIMD on the 429 share)"),
    "hang": ({"p_hang": 0.01}, None, ["--timeout", "30", "--deadline", "30"], 0.85,
             "of the limit, 1 % of requests never answered (timeout 30 s)"),
    "slow": ({"p_slow": 0.05, "slow_factor": 10}, None, [], 0.90, "of the limit, 5 % of answers 10 x slower"),
    "two": ({}, {}, [], 1.90, "x one endpoint's limit, two endpoints of 50 req/s"),
    "one_dead": ({}, {"dead": True}, [], 0.90, "x one endpoint's limit, one of two endpoints dead (503)"),
}


def post(base: str, path: str, obj: dict) -> dict:
    req = urllib.request.Request(base.removesuffix("/v1") + path, data=json.dumps(obj).encode(),
                                 headers={"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def get(base: str, path: str) -> dict:
    return json.loads(urllib.request.urlopen(base.removesuffix("/v1") + path).read())


def start_server() -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/llm_server.py")], stdout=subprocess.PIPE, text=True,
                            env=env)
    return proc, proc.stdout.readline().strip()


def write_prompts(path: Path, n: int) -> None:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "prompt": f"speaker{i % 7} at s1e1 said: Line {i}: well, I did not "
                                                  "expect to see you here today!"}) + "\n")


def cli(prompts: Path, out: Path, store: Path, urls: list[str], *extra: str) -> dict:
    cmd = [sys.executable, "-m", "melt.annotate.cli", "--input", str(prompts), "--output", str(out),
           "--model", "gpt-4o-2024-08-06", "--store", str(store), "--concurrency", str(CONCURRENCY), "--rpm", str(RPM),
           "--tpm", "100000000", "--no-progress", *[a for u in urls for a in ("--base-url", u)], *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr)
    return json.loads(done.stderr.strip().splitlines()[-1])


def lost(out: Path) -> int:
    return sum(1 for line in open(out) if json.loads(line)["error"] is not None)


def scenario(name: str, bases: list[str], tmp: Path, prompts: Path, n: int, seed: int) -> dict:
    faults1, faults2, extra, target, what = SCENARIOS[name]
    urls = [bases[0]] if faults2 is None else bases
    for base, faults in zip(urls, (faults1, faults2)):
        post(base, "/_config", {"latency_s": LATENCY, "rpm": RPM, "seed": seed, **faults})
    summary = cli(prompts, tmp / f"{name}.jsonl", tmp / f"store-{name}", urls, *extra)
    stats = [get(base, "/_stats") for base in urls]
    sent = sum(s["chat_requests"] for s in stats)
    throttled = sum(s["outcomes"].get("429", 0) + s["outcomes"].get("rate_limited", 0) for s in stats)
    ratio = n / summary["seconds"] / LIMIT
    missing = lost(tmp / f"{name}.jsonl")
    print(f"{name:20s} {ratio:6.3f} {what} (target >= {target}); lost {missing}; {sent / n:.3f} requests per prompt, "
          f"429 {throttled / sent:.1%}, hedges {summary['hedges']}, re-asks {summary['reasks']}; per endpoint "
          f"{[s['outcomes'] for s in stats]}", flush=True)
    return {"ratio": ratio, "lost": missing, "share_429": throttled / sent}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenario names")
    ap.add_argument("--fill", type=int, default=2000, help="prompts of the fsync on/off fill")
    args = ap.parse_args()
    servers = [start_server(), start_server()]
    bases = [base for _, base in servers]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            prompts = tmp / "prompts.jsonl"
            write_prompts(prompts, args.requests)
            print(f"limit per endpoint: min(rpm/60, concurrency/latency) = min({RPM / 60:.0f}, "
                  f"{CONCURRENCY / LATENCY:.0f}) = {LIMIT:.0f} req/s; {args.requests} unique prompts")
            for i, name in enumerate(args.only.split(",")):
                scenario(name, bases, tmp, prompts, args.requests, i)

            fill = tmp / "fill.jsonl"
            write_prompts(fill, args.fill)
            post(bases[0], "/_config", {"latency_s": 0.0})
            rates = {}
            for every in ("0", "64", "0", "64"):   # interleaved: the machine's load weighs on both alike
                s = cli(fill, tmp / "fill-out.jsonl", tmp / f"store-fill-{every}-{time.monotonic_ns()}", bases[:1],
                        "--rpm", "1000000", "--concurrency", "64", "--fsync-every", every)
                rates.setdefault(every, []).append(args.fill / s["seconds"])
            on, off = max(rates["64"]), max(rates["0"])
            print(f"fill {args.fill} without latency or limit: fsync every 64 answers {on:.0f} req/s, no fsync "
                  f"{off:.0f} req/s: group commit at {on / off:.2f} of off (best of 2 each)")
            started = time.perf_counter()
            s = cli(prompts, tmp / "cached.jsonl", tmp / "store-clean", bases[:1])
            print(f"fully cached re-run of {args.requests}: {s['seconds']:.2f} s in the CLI "
                  f"({time.perf_counter() - started:.2f} s with Python's start-up), requests sent {s['requests_sent']}, "
                  f"from the store {s['answered_from_store']}")
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
