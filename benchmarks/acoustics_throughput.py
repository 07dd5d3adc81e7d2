"""eGeMAPS extraction throughput (files/s) with 1 and 2 local worker processes (melt.compute.runner), no cache.

    python benchmarks/acoustics_throughput.py [--audio-dir demo/sitcom/audio] [--limit 200]

Prints the load average before and after, and CPU ms per file: other processes on the machine lower
the 2-worker ratio (wall clock) while the CPU cost per file stays the same.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from melt.acoustics.extract import extract  # noqa: E402
from melt.compute.params import ActorResources  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def files_per_second(paths: list[str], workers: int, chunk_size: int) -> tuple[float, float, int]:
    """Wall-clock files/s, and CPU ms per file (equal for 1 and 2 workers unless overhead grows)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = extract(paths, resources=ActorResources(actors=workers, batch_size=chunk_size), cache_dir=None,
                     progress=False)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return len(paths) / elapsed, 1000 * cpu / len(paths), len(result.features)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio-dir", type=Path, default=Path("demo/sitcom/audio"))
    ap.add_argument("--limit", type=int, default=200, help="files to extract per run (0: all)")
    ap.add_argument("--chunk-size", type=int, default=8)
    args = ap.parse_args()

    paths = sorted(str(p) for p in args.audio_dir.rglob("*.wav"))
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        sys.exit(f"no .wav files under {args.audio_dir}")
    print(f"{len(paths)} files from {args.audio_dir}, {os.cpu_count()} CPUs, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    extract(paths[:1], resources=ActorResources(actors=1), progress=False)  # openSMILE built once, outside the timing

    rates = {}
    for workers in (1, 2):
        rates[workers], cpu_ms, ok = files_per_second(paths, workers, args.chunk_size)
        print(f"workers={workers}: {rates[workers]:.2f} files/s, {cpu_ms:.1f} CPU ms/file ({ok} extracted)")
    print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x (target >= 1.7x on 2 idle cores)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
