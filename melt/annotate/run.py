"""Entry point of the `annotate` stage.

data/prompts + the answer store → data/annotations/{split}.jsonl, the snapshot cache/llm/,
reports/annotate.json (deterministic) and metrics/annotate.json (this run's headline counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from melt.annotate.backends import OfflineBackend, OpenAIBackend, estimate_prompt_tokens
from melt.annotate.engine import Check, Engine, Progress, Stats, cost_of, next_needed, resolve
from melt.annotate.params import AnnotateParams
from melt.annotate.requests import effective_model, iter_prompts
from melt.annotate.schema import check_answer
from melt.annotate.snapshot import import_snapshot, write_snapshot
from melt.annotate.store import AnswerStore, StoreError
from melt.io import atomic_open, write_json
from melt.repo import shared_path

SPLITS = ("train", "dev", "test")
DEFAULT_STORE = "cache/llm-store"


def store_path(params: AnnotateParams, snapshot_dir: Path) -> Path:
    """The repository's answer store (`annotate.store`), never inside the DVC-managed snapshot."""
    store = shared_path(params.store, DEFAULT_STORE).resolve()
    snap = Path(snapshot_dir).resolve()
    if store == snap or snap in store.parents or store in snap.parents:
        raise StoreError(f"annotate.store ({store}) overlaps the DVC output {snapshot_dir}: the store must be a "
                         f"folder of its own outside every DVC output (default {DEFAULT_STORE})")
    return store


class SplitWriter:
    """One JSONL file per split, each replacing its target atomically when complete (melt.io)."""

    def __init__(self, out_dir: Path, splits: Iterable[str]):
        self.stack = contextlib.ExitStack()
        self.files = {s: self.stack.enter_context(atomic_open(Path(out_dir) / f"{s}.jsonl", "w")) for s in splits}

    def write(self, record: dict) -> None:
        self.files[record["split"]].write(json.dumps(record, ensure_ascii=False) + "\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)


def annotation_record(prompt: dict, fields: dict) -> dict:
    return {"split": prompt["split"], "dialogue_id": prompt["dialogue_id"], "utterance_id": prompt["utterance_id"],
            "sample": prompt["sample"], "key": prompt["key"], **fields}


def _count_lines(prompts_dir: Path, splits) -> int:
    total = 0
    for split in splits:
        with open(prompts_dir / f"{split}.jsonl", "rb") as f:
            total += sum(1 for _ in f)
    return total


def dry_run(params: AnnotateParams, prompts_dir: Path, store: AnswerStore, splits=SPLITS) -> dict:
    """Tokens and cost of the requests the store cannot answer; nothing is called."""
    n = uncached = prompt_tokens = 0
    for prompt in iter_prompts(prompts_dir, splits):
        n += 1
        if next_needed(prompt, store, params.max_invalid_retries) is not None:
            uncached += 1
            prompt_tokens += estimate_prompt_tokens(prompt["body"])
    completion = uncached * params.expected_completion_tokens
    cost = cost_of(params, params.model, prompt_tokens, completion, batch=params.backend == "openai-batch")
    return {"requests": n, "cache_hits": n - uncached, "requests_to_send": uncached,
            "estimated_prompt_tokens": prompt_tokens, "estimated_completion_tokens": completion,
            "estimated_cost_usd": round(cost, 4), "price_known": params.model in params.prices}


def fill(params: AnnotateParams, requests: Callable[[], Iterable[dict]], store: AnswerStore, progress: Progress,
         check: Check = check_answer, offline: OfflineBackend | None = None) -> Stats:
    """Answer into the store every request (streamed by `requests()`) that the store does not settle.

    Any prompt: `check` validates an answer, `offline` answers for the `offline` backend (default: MELT's)."""
    if params.backend == "openai-batch":
        from melt.annotate.batch import fill_batch
        return fill_batch(requests, store, params, progress, store.root / "batches", check=check)

    async def go() -> Stats:
        backend = (offline or OfflineBackend()) if params.backend == "offline" else OpenAIBackend(params)
        try:
            return await Engine(backend, store, params, progress, check).fill(requests())
        finally:
            await backend.aclose()

    return asyncio.run(go())


def _write_annotations(records: Iterable[tuple[dict, float]], out_dir: Path, splits) -> dict:
    """Write the records; return their deterministic summary (statuses per split, tokens, cost of the answers)."""
    per_split = {s: Counter({"ok": 0, "invalid": 0, "failed": 0}) for s in splits}
    tokens, cost, asks = Counter({"prompt": 0, "completion": 0}), 0.0, 0
    with SplitWriter(out_dir, splits) as writer:
        for rec, rec_cost in records:
            writer.write(rec)
            per_split[rec["split"]][rec["status"]] += 1
            tokens["prompt"] += rec["prompt_tokens"]
            tokens["completion"] += rec["completion_tokens"]
            asks += rec.get("asks", 0)
            cost += rec_cost
    status = {k: sum(c[k] for c in per_split.values()) for k in ("ok", "invalid", "failed")}
    return {"requests": sum(status.values()), "status": status,
            "splits": {s: dict(c) for s, c in per_split.items()}, "answers_read": asks,
            "tokens": dict(tokens), "answers_cost_usd": round(cost, 6)}


def _labels_file_records(params: AnnotateParams, prompts_dir: Path, splits):
    from melt.annotate.labels_file import label_record, load_labels   # pandas: only for this backend
    labels = {s: load_labels(p) for s, p in params.labels_files.items()}
    sources = {s: Path(p).name for s, p in params.labels_files.items()}
    for p in iter_prompts(prompts_dir, splits):
        yield label_record(p, labels.get(p["split"]), sources.get(p["split"])), 0.0


def annotate(params: AnnotateParams, prompts_dir="data/prompts", out_dir="data/annotations", snapshot_dir="cache/llm",
             report_path="reports/annotate.json", metrics_path="metrics/annotate.json", splits=SPLITS,
             progress: bool | None = None) -> dict:
    """Run the stage; returns {"metrics", "report", "run"} (run: this run's log-only figures)."""
    prompts_dir, out_dir, snapshot_dir = Path(prompts_dir), Path(out_dir), Path(snapshot_dir)
    progress = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    report = {"backend": params.backend, "model": effective_model(params),
              "heuristic_baseline": params.backend == "offline"}
    run: dict = {"store": None}
    with AnswerStore(store_path(params, snapshot_dir)) as store:
        run["store"] = str(store.root)
        run["imported_from_snapshot"], run["snapshot_problems"] = import_snapshot(snapshot_dir, store)
        used: set[str] = set()
        if params.backend == "labels-file":
            report.update(_write_annotations(_labels_file_records(params, prompts_dir, splits), out_dir, splits))
            metrics = {"requests": report["requests"], "failed": report["requests"] - report["status"]["ok"],
                       "cost_usd": 0.0, "requests_sent": 0, "cache_hits": 0}
        elif params.dry_run:
            estimate = dry_run(params, prompts_dir, store, splits)
            report.update(dry_run=True, **estimate)
            _write_annotations((), out_dir, splits)   # a dry run answers nothing
            metrics = {k: estimate[k] for k in ("requests", "cache_hits", "requests_to_send", "estimated_cost_usd")}
        else:
            bar = Progress(_count_lines(prompts_dir, splits), progress)
            try:
                stats = fill(params, lambda: iter_prompts(prompts_dir, splits), store, bar)
            finally:
                bar.close()

            def records():
                for prompt in iter_prompts(prompts_dir, splits):
                    resolved = resolve(prompt, store, params)
                    used.update(resolved.keys)
                    yield annotation_record(prompt, resolved.fields), resolved.cost_usd

            report.update(_write_annotations(records(), out_dir, splits))
            metrics = {"requests": stats.requests, "failed": report["requests"] - report["status"]["ok"],
                       "cost_usd": round(stats.cost_usd, 6), "requests_sent": stats.requests_sent,
                       "cache_hits": stats.cache_hits}
            run.update(answers_received=stats.answers_received, answers_concurrent=stats.answers_concurrent,
                       reasks=stats.reasks, prompt_tokens=stats.prompt_tokens,
                       completion_tokens=stats.completion_tokens,
                       failure_reasons=dict(Counter(_reason(e) for e in stats.failures.values())),
                       failures=dict(list(stats.failures.items())[:5]))
        report["answers"] = write_snapshot(snapshot_dir, store, used)
        run["torn_records"] = store.torn_records
    run["seconds"] = round(time.monotonic() - started, 3)
    if "requests_sent" in metrics:
        run["requests_per_s"] = round(metrics["requests_sent"] / run["seconds"], 2) if run["seconds"] else 0.0
    write_json(report_path, report)
    write_json(metrics_path, metrics)
    return {"metrics": metrics, "report": report, "run": run}


def _reason(error: str) -> str:
    """A failure message without its request-specific details, to count reasons in the log."""
    return error.split("; last: ", 1)[-1].split(":", 1)[0]
