"""Entry point of the `annotate` stage: data/prompts → data/annotations + cache/llm + metrics/annotate.json."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from melt.annotate.backends import OfflineBackend, OpenAIBackend, estimate_prompt_tokens
from melt.annotate.cache import ResponseCache
from melt.annotate.engine import Engine, Progress, SplitWriter, Stats, cost_of, next_needed, resolve, summarize
from melt.annotate.params import AnnotateParams
from melt.annotate.requests import iter_prompts
from melt.io import write_json

SPLITS = ("train", "dev", "test")


def _count(prompts_dir: Path, splits) -> int:
    total = 0
    for split in splits:
        with open(prompts_dir / f"{split}.jsonl", "rb") as f:
            total += sum(1 for _ in f)
    return total


def dry_run(params: AnnotateParams, prompts_dir: Path, cache: ResponseCache, splits=SPLITS) -> dict:
    """Tokens and cost of the requests the cache cannot answer; nothing is called."""
    n = uncached = prompt_tokens = 0
    for prompt in iter_prompts(prompts_dir, splits):
        n += 1
        if next_needed(prompt, cache, params.max_invalid_retries) is not None:
            uncached += 1
            prompt_tokens += estimate_prompt_tokens(prompt["body"])
    completion = uncached * params.expected_completion_tokens
    model = params.model
    return {"dry_run": True, "requests": n, "cache_hits": n - uncached, "requests_to_send": uncached,
            "estimated_prompt_tokens": prompt_tokens, "estimated_completion_tokens": completion,
            "estimated_cost_usd": round(cost_of(params, model, prompt_tokens, completion,
                                                batch=params.backend == "openai-batch"), 4),
            "price_known": model in params.prices, "model": model, "backend": params.backend}


def _fill(params: AnnotateParams, prompts_dir: Path, cache: ResponseCache, cache_dir: Path, splits, progress: Progress) -> Stats:
    if params.backend == "openai-batch":
        from melt.annotate.batch import fill_batch
        return fill_batch(lambda: iter_prompts(prompts_dir, splits), cache, params, progress, cache_dir / "batches")

    async def go() -> Stats:
        backend = OfflineBackend() if params.backend == "offline" else OpenAIBackend(params)
        try:
            return await Engine(backend, cache, params, progress).fill(iter_prompts(prompts_dir, splits))
        finally:
            await backend.aclose()

    return asyncio.run(go())


def annotate(params: AnnotateParams, prompts_dir="data/prompts", out_dir="data/annotations", cache_dir="cache/llm",
             metrics_path="metrics/annotate.json", splits=SPLITS, progress: bool | None = None) -> dict:
    prompts_dir, out_dir, cache_dir = Path(prompts_dir), Path(out_dir), Path(cache_dir)
    progress = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    writer = SplitWriter(out_dir)

    if params.backend == "labels-file":
        from melt.annotate.labels_file import label_record, load_labels   # pandas: only for this backend
        labels = {s: load_labels(p) for s, p in params.labels_files.items()}
        sources = {s: Path(p).name for s, p in params.labels_files.items()}
        summary = summarize((label_record(p, labels.get(p["split"]), sources.get(p["split"]))
                             for p in iter_prompts(prompts_dir, splits)), writer)
        writer.commit(splits)
        metrics = {"backend": "labels-file", "requests": sum(summary["status"].values()), "requests_sent": 0,
                   "cache_hits": 0, "failed": summary["status"]["failed"] + summary["status"]["invalid"],
                   **{f"status_{k}": v for k, v in summary["status"].items()},
                   "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        write_json(metrics_path, metrics)
        return metrics

    cache = ResponseCache(cache_dir)
    try:
        if params.dry_run:
            metrics = dry_run(params, prompts_dir, cache, splits)
            writer.commit(splits)   # empty annotation files: a dry run answers nothing
            write_json(metrics_path, metrics)
            return metrics
        bar = Progress(_count(prompts_dir, splits), progress)
        try:
            stats = _fill(params, prompts_dir, cache, cache_dir, splits, bar)
        finally:
            bar.close()
        summary = summarize((resolve(p, cache, params, stats.failures) for p in iter_prompts(prompts_dir, splits)),
                            writer)
        writer.commit(splits)
    finally:
        cache.close()
    elapsed = time.monotonic() - started
    metrics = {
        "backend": params.backend,
        "model": params.model if params.backend in ("openai", "openai-batch") else OfflineBackend.model,
        "heuristic_baseline": params.backend == "offline",
        "requests": stats.requests, "cache_hits": stats.cache_hits, "requests_sent": stats.requests_sent,
        "answers_received": stats.answers_received, "reasks": stats.reasks,
        "failed": summary["status"]["failed"] + summary["status"]["invalid"],
        **{f"status_{k}": v for k, v in summary["status"].items()},
        "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
        "cost_usd": round(stats.cost_usd, 6),
        "annotations_prompt_tokens": summary["tokens"]["prompt"],
        "annotations_completion_tokens": summary["tokens"]["completion"],
        "torn_cache_records": cache.torn_records,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(stats.requests_sent / elapsed, 2) if elapsed else 0.0,
    }
    write_json(metrics_path, metrics)
    return metrics
