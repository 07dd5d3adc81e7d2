"""Throughput of an audio annotator of the panel against the loopback OpenAI-compatible server (tests/llm_server.py).

    .venv/bin/python benchmarks/panel_throughput.py [--clips 304] [--rpm 1200] [--latency 0.2]

The server runs in its own process; it decodes every clip it receives (base64 → WAV, 16 kHz mono check) and
answers from its loudness. Prints, in one run: the prompts stage's cost of encoding each clip (read, resample to
16 kHz, WAV, sha256), a text annotator and an audio annotator on the same rows against the same limit (req/s as a
share of min(rpm/60, concurrency/latency); MB/s of base64 audio sent), the audio annotator's fully cached re-run,
and the answer store's growth against the audio sent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from annotate_throughput import get, post   # the loopback server's control endpoints (this folder)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CONCURRENCY = 16


def prepared(root: Path, n: int) -> Path:
    import pandas as pd

    clips = sorted((ROOT / "demo/sitcom/audio").glob("*/*.wav"))[:n]
    rows = [{"dialogue_id": i // 20, "utterance_id": i % 20, "Speaker": "nadia", "Season": 1, "Episode": 1,
             "Utterance": f"Line {i}: well, I did not expect to see you here today!", "audio_path": str(p)}
            for i, p in enumerate(clips)]
    folder = root / "prepared"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "train.csv", index=False)
    for split in ("dev", "test"):
        pd.DataFrame(columns=list(rows[0])).to_csv(folder / f"{split}.csv", index=False)
    return folder


def settings(base_url: str, input_: str, rpm: float, store: Path):
    from melt.annotate.params import AnnotatorSettings
    return AnnotatorSettings(name=input_, backend="openai", base_url=base_url, model="omni", input=input_,
                             concurrency=CONCURRENCY, rpm=rpm, tpm=100_000_000, timeout_s=30, max_retries=8,
                             backoff_base_s=0.05, backoff_max_s=2.0, store=str(store))


def run(s, prompts: Path, work: Path) -> tuple[float, dict]:
    from melt.annotate.run import annotate_single

    started = time.perf_counter()
    out = annotate_single(s, prompts, work / "out", work / "snapshot", work / "report.json", work / "metrics.json",
                          progress=False)
    return time.perf_counter() - started, out


def store_size(store: Path) -> int:
    return sum(p.stat().st_size for p in store.glob("*.jsonl"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=304)
    ap.add_argument("--rpm", type=float, default=1200)
    ap.add_argument("--latency", type=float, default=0.2)
    args = ap.parse_args()
    from melt.annotate.params import PromptsParams
    from melt.annotate.requests import write_annotator_prompts

    limit = min(args.rpm / 60, CONCURRENCY / args.latency)
    server = subprocess.Popen([sys.executable, str(ROOT / "tests/llm_server.py")], stdout=subprocess.PIPE, text=True)
    base = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            rows = prepared(tmp, args.clips)
            store = tmp / "store"
            text, audio = settings(base, "text", args.rpm, store), settings(base, "audio", args.rpm, store)
            started = time.perf_counter()
            write_annotator_prompts(rows, tmp / "prompts_audio", PromptsParams(), audio, templates_dir=ROOT / "prompts")
            encode = time.perf_counter() - started
            write_annotator_prompts(rows, tmp / "prompts_text", PromptsParams(), text, templates_dir=ROOT / "prompts")
            seconds = sum(json.loads(line)["audio"]["seconds"] for line in open(tmp / "prompts_audio/train.jsonl"))
            n = args.clips
            print(f"limit: min(rpm/60, concurrency/latency) = min({args.rpm / 60:.0f}, "
                  f"{CONCURRENCY / args.latency:.0f}) = {limit:.0f} req/s; {n} clips, {seconds:.0f} s of audio")
            print(f"prompts stage, audio annotator: {1000 * encode / n:.1f} ms per clip (read, resample, WAV, sha256)")
            results = {}
            for name, s in (("text", text), ("audio", audio)):
                post(base, "/_config", {"latency_s": args.latency, "rpm": args.rpm})
                before = store_size(store)
                elapsed, out = run(s, tmp / f"prompts_{name}", tmp / name)
                stats = get(base, "/_stats")
                rate = n / elapsed
                results[name] = rate
                line = (f"{name} annotator: {rate:6.2f} req/s = {rate / limit:.3f} of limit; server requests "
                        f"{stats['chat_requests']}, ok {out['report']['status']['ok']}/{n}")
                if name == "audio":
                    mb = stats["audio_bytes"] / 1e6
                    line += (f"; {mb / elapsed:.2f} MB/s of base64 audio ({mb:.1f} MB sent, "
                             f"{seconds / elapsed:.1f} s of audio per s); store grew {store_size(store) - before:,} "
                             f"bytes = {(store_size(store) - before) / stats['audio_bytes']:.4f} of the audio sent")
                print(line)
            print(f"audio / text throughput at the same limit: {results['audio'] / results['text']:.3f}")
            post(base, "/_config", {"latency_s": args.latency, "rpm": args.rpm})
            elapsed, out = run(audio, tmp / "prompts_audio", tmp / "audio")
            stats = get(base, "/_stats")
            print(f"audio annotator, fully cached re-run: {elapsed:.2f} s, server requests {stats['chat_requests']}, "
                  f"cache hits {out['metrics']['cache_hits']}/{n}; {n / results['audio'] / elapsed:.0f} × faster "
                  f"than buying the answers")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
