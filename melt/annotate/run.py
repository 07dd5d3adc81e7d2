"""Entry point of the `annotate` stage: every annotator of the panel, one answer store, one snapshot.

data/prompts/<annotator>/ + the answer store → data/annotations/<annotator>/{split}.jsonl (and panel.json), the
snapshot cache/llm/ (every annotator's answers used), reports/annotate.json (deterministic, per annotator and in
total) and metrics/annotate.json (this run's headline counters, summed over the panel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from melt.annotate.backends import OfflineBackend, OpenAIBackend, estimate_prompt_tokens
from melt.annotate.engine import Check, Engine, Progress, Stats, cost_of, next_needed, resolve
from melt.annotate.params import AnnotateParams, AnnotatorSettings
from melt.annotate.requests import effective_model, iter_prompts
from melt.annotate.schema import check_answer
from melt.annotate.snapshot import import_snapshot, write_snapshot
from melt.annotate.store import AnswerStore, StoreError
from melt.io import atomic_open, write_json
from melt.repo import shared_path

SPLITS = ("train", "dev", "test")
DEFAULT_STORE = "cache/llm-store"
STATUSES = ("ok", "invalid", "failed", "excluded")
PANEL_FILE = "panel.json"


def store_path(params, snapshot_dir: Path) -> Path:
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


def excluded_record(prompt: dict, settings, reason: str) -> dict:
    """An audio annotator's record of a request it did not send: why (the clip), no label, no key."""
    return annotation_record({**prompt, "key": None}, {
        "backend": settings.backend, "model": effective_model(settings), "status": "excluded", "label": None,
        "parsed": None, "raw": None, "error": reason, "prompt_tokens": 0, "completion_tokens": 0, "asks": 0})


def sendable(prompts: Iterable[dict]) -> Iterator[dict]:
    """The requests that can be sent (an audio annotator's excluded rows are recorded, never sent)."""
    return (p for p in prompts if not p.get("excluded"))


def _count_lines(prompts_dir: Path, splits) -> int:
    total = 0
    for split in splits:
        with open(prompts_dir / f"{split}.jsonl", "rb") as f:
            total += sum(1 for _ in f)
    return total


def dry_run(params, prompts: Iterable[dict], store: AnswerStore, check: Check = check_answer,
            model: str | None = None) -> dict:
    """Tokens and cost of the requests the store cannot answer (annotate's and pseudolabel's); nothing is called.
    Audio requests add their audio tokens (`audio_tokens_per_s`) at `audio_price_per_1m`."""
    from melt.annotate.audio_backends import audio_tokens

    model = model or effective_model(params)
    n = uncached = prompt_tokens = audio = 0
    for prompt in prompts:
        n += 1
        if next_needed(prompt, store, params.max_invalid_retries, check) is not None:
            uncached += 1
            prompt_tokens += estimate_prompt_tokens(prompt["body"])
            if prompt.get("audio"):
                audio += audio_tokens(params, prompt["audio"]["seconds"])
    completion = uncached * params.expected_completion_tokens
    cost = cost_of(params, model, prompt_tokens, completion, batch=params.backend == "openai-batch")
    if audio and params.backend == "openai":
        cost += audio * params.audio_price_per_1m / 1e6
    return {"requests": n, "cache_hits": n - uncached, "requests_to_send": uncached,
            "estimated_prompt_tokens": prompt_tokens, "estimated_audio_tokens": audio,
            "estimated_completion_tokens": completion, "estimated_cost_usd": round(cost, 4),
            "price_known": model in params.prices}


def make_backend(params, offline: OfflineBackend | None = None):
    """The backend of one annotator: offline heuristics by input, else an OpenAI-compatible server; an audio
    annotator's backend is wrapped so that the clip is put into the body at send time."""
    if params.backend == "offline":
        if offline is None and getattr(params, "input", "text") == "audio":
            from melt.annotate.audio_backends import AudioHeuristicBackend
            backend = AudioHeuristicBackend()
        else:
            backend = offline or OfflineBackend()
    else:
        backend = OpenAIBackend(params)
    if getattr(params, "hears_audio", False):
        from melt.annotate.audio_backends import AudioSender
        backend = AudioSender(backend, params)
    return backend


def fill(params, requests: Callable[[], Iterable[dict]], store: AnswerStore, progress: Progress,
         check: Check = check_answer, offline: OfflineBackend | None = None,
         backend_factory: Callable[[], object] | None = None) -> Stats:
    """Answer into the store every request (streamed by `requests()`) that the store does not settle.

    Any prompt: `check` validates an answer, `offline` answers for the `offline` backend (default: MELT's
    heuristics), `backend_factory` builds the backend (default: make_backend) inside the run's event loop."""
    if params.backend == "openai-batch":
        from melt.annotate.batch import fill_batch
        return fill_batch(requests, store, params, progress, store.root / "batches", check=check)

    async def go() -> Stats:
        backend = backend_factory() if backend_factory else make_backend(params, offline)
        try:
            return await Engine(backend, store, params, progress, check).fill(requests())
        finally:
            await backend.aclose()

    return asyncio.run(go())


def _write_annotations(records: Iterable[tuple[dict, float]], out_dir: Path, splits) -> dict:
    """Write the records; return their deterministic summary (statuses per split, tokens, cost of the answers)."""
    per_split = {s: Counter({k: 0 for k in STATUSES}) for s in splits}
    tokens, cost, asks = Counter({"prompt": 0, "completion": 0}), 0.0, 0
    with SplitWriter(out_dir, splits) as writer:
        for rec, rec_cost in records:
            writer.write(rec)
            per_split[rec["split"]][rec["status"]] += 1
            tokens["prompt"] += rec["prompt_tokens"]
            tokens["completion"] += rec["completion_tokens"]
            asks += rec.get("asks", 0)
            cost += rec_cost
    status = {k: sum(c[k] for c in per_split.values()) for k in STATUSES}
    return {"requests": sum(status.values()), "status": status,
            "splits": {s: dict(c) for s, c in per_split.items()}, "answers_read": asks,
            "tokens": dict(tokens), "answers_cost_usd": round(cost, 6)}


def _labels_file_records(params, prompts_dir: Path, splits):
    from melt.annotate.labels_file import label_record, load_labels   # pandas: only for this backend
    labels = {s: load_labels(p) for s, p in params.labels_files.items()}
    sources = {s: Path(p).name for s, p in params.labels_files.items()}
    for p in iter_prompts(prompts_dir, splits):
        yield label_record(p, labels.get(p["split"]), sources.get(p["split"])), 0.0


@dataclass
class AnnotatorRun:
    """One annotator's part of a run: its deterministic report, this run's headline counters and log figures,
    and the store keys its annotations were resolved from."""
    report: dict
    metrics: dict
    run: dict = field(default_factory=dict)
    used: set[str] = field(default_factory=set)


def annotate_one(settings: AnnotatorSettings, prompts_dir: Path, out_dir: Path, store: AnswerStore,
                 splits=SPLITS, progress: bool = False) -> AnnotatorRun:
    """One annotator: answer what the store lacks, then write its annotations from the store alone."""
    from melt.annotate.audio_backends import AudioSender, audio_cost_adjustment

    report = {"backend": settings.backend, "model": effective_model(settings), "input": settings.input,
              "prompt": settings.prompt_name, "heuristic_baseline": settings.backend == "offline"}
    out = AnnotatorRun(report, {})
    excluded = sum(1 for p in iter_prompts(prompts_dir, splits) if p.get("excluded"))
    if settings.backend == "labels-file":
        report.update(_write_annotations(_labels_file_records(settings, prompts_dir, splits), out_dir, splits))
        n = report["requests"]
        out.metrics = ({"requests": n, "cache_hits": n, "requests_to_send": 0, "estimated_cost_usd": 0.0}
                       if settings.dry_run else   # the same headline keys as the dry runs of the rest of the panel
                       {"requests": n, "failed": n - report["status"]["ok"], "cost_usd": 0.0, "requests_sent": 0,
                        "cache_hits": 0, "hedges": 0})
        return out
    if settings.dry_run:
        estimate = dry_run(settings, sendable(iter_prompts(prompts_dir, splits)), store)
        report.update(dry_run=True, **estimate, requests_excluded=excluded)
        _write_annotations((), out_dir, splits)   # a dry run answers nothing
        out.metrics = {k: estimate[k] for k in ("requests", "cache_hits", "requests_to_send", "estimated_cost_usd")}
        return out
    sender: list[AudioSender] = []

    def backend():
        made = make_backend(settings)
        sender.extend([made] if isinstance(made, AudioSender) else [])
        return made

    bar = Progress(_count_lines(prompts_dir, splits) - excluded, progress, desc=f"annotate {settings.name}")
    try:
        stats = fill(settings, lambda: sendable(iter_prompts(prompts_dir, splits)), store, bar,
                     backend_factory=backend)
    finally:
        bar.close()
    changed = sender[0].changed if sender else {}

    def records():
        for prompt in iter_prompts(prompts_dir, splits):
            if prompt.get("excluded"):
                yield excluded_record(prompt, settings, prompt["excluded"]), 0.0
                continue
            resolved = resolve(prompt, store, settings)
            if resolved.fields["status"] == "failed" and prompt["key"] in changed:
                yield excluded_record(prompt, settings, changed[prompt["key"]]), 0.0
                continue
            out.used.update(resolved.keys)
            seconds = (prompt.get("audio") or {}).get("seconds", 0.0)
            cost = resolved.cost_usd + audio_cost_adjustment(settings, seconds, resolved.fields["prompt_tokens"],
                                                             resolved.fields["asks"])
            yield annotation_record(prompt, resolved.fields), cost

    report.update(_write_annotations(records(), out_dir, splits))
    paid = stats.cost_usd + (sender[0].extra_cost_usd if sender else 0.0)
    out.metrics = {"requests": stats.requests + excluded, "failed": report["requests"] - report["status"]["ok"],
                   "cost_usd": round(paid, 6), "requests_sent": stats.requests_sent, "cache_hits": stats.cache_hits,
                   "hedges": stats.hedges}
    out.run = {"answers_received": stats.answers_received, "answers_concurrent": stats.answers_concurrent,
               "reasks": stats.reasks, "prompt_tokens": stats.prompt_tokens,
               "completion_tokens": stats.completion_tokens,
               "audio_bytes_sent": sender[0].audio_bytes_sent if sender else 0,
               "failure_reasons": dict(Counter(_reason(e) for e in stats.failures.values())),
               "failures": dict(list(stats.failures.items())[:5])}
    return out


def _open_store(params, snapshot_dir: Path) -> tuple[AnswerStore, dict]:
    store = AnswerStore(store_path(params, snapshot_dir), durability=params.durability)
    imported, problems = import_snapshot(snapshot_dir, store)
    return store, {"store": str(store.root), "imported_from_snapshot": imported, "snapshot_problems": problems}


def _finish(run: dict, started: float, metrics: dict, report: dict, report_path, metrics_path) -> None:
    run["seconds"] = round(time.monotonic() - started, 3)
    if "requests_sent" in metrics:
        run["requests_per_s"] = round(metrics["requests_sent"] / run["seconds"], 2) if run["seconds"] else 0.0
    write_json(report_path, report)
    write_json(metrics_path, metrics)


def annotate_single(settings: AnnotatorSettings, prompts_dir, out_dir, snapshot_dir, report_path, metrics_path,
                    splits=SPLITS, progress: bool | None = None) -> dict:
    """One annotator on its own (prompts_dir/{split}.jsonl → out_dir/{split}.jsonl, its own snapshot, report and
    metrics): the engine's unit, as the tests and benchmarks drive it. Returns {"metrics", "report", "run"}."""
    prompts_dir, out_dir, snapshot_dir = Path(prompts_dir), Path(out_dir), Path(snapshot_dir)
    progress = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    store, run = _open_store(settings, snapshot_dir)
    with store:
        one = annotate_one(settings, prompts_dir, out_dir, store, splits, progress)
        one.report["answers"] = write_snapshot(snapshot_dir, store, one.used)
        run.update(one.run, torn_records=store.torn_records)
    _finish(run, started, one.metrics, one.report, report_path, metrics_path)
    return {"metrics": one.metrics, "report": one.report, "run": run}


def _sum_metrics(parts: list[dict]) -> dict:
    out = {k: sum(p[k] for p in parts) for k in parts[0]}
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}


def annotate(params: AnnotateParams, prompts_dir="data/prompts", out_dir="data/annotations", snapshot_dir="cache/llm",
             report_path="reports/annotate.json", metrics_path="metrics/annotate.json", splits=SPLITS,
             progress: bool | None = None) -> dict:
    """Run the stage for the whole panel; returns {"metrics", "report", "run"} (run: this run's log-only figures,
    per annotator)."""
    prompts_dir, out_dir, snapshot_dir = Path(prompts_dir), Path(out_dir), Path(snapshot_dir)
    progress = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    store, run = _open_store(params, snapshot_dir)
    report: dict = {"aggregate": params.aggregate, "annotators": {}}
    parts, used = [], set()
    with store:
        for settings in params.panel():
            folder = prompts_dir / settings.name
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: no requests for annotator {settings.name!r} (run the prompts stage)")
            one = annotate_one(settings, folder, out_dir / settings.name, store, splits, progress)
            report["annotators"][settings.name] = one.report
            run[settings.name] = one.run
            parts.append(one.metrics)
            used |= one.used
        shutil.copyfile(prompts_dir / PANEL_FILE, out_dir / PANEL_FILE)
        for entry in out_dir.iterdir():   # an annotator removed from the panel leaves no annotations behind
            if entry.is_dir() and entry.name not in params.annotators:
                shutil.rmtree(entry)
            elif entry.is_file() and entry.name != PANEL_FILE:
                entry.unlink()
        report["answers"] = write_snapshot(snapshot_dir, store, used)
        run["torn_records"] = store.torn_records
    totals = [r for r in report["annotators"].values() if not r.get("dry_run")]
    if totals:
        report["requests"] = sum(r["requests"] for r in totals)
        report["status"] = {k: sum(r["status"][k] for r in totals) for k in STATUSES}
        report["answers_cost_usd"] = round(sum(r["answers_cost_usd"] for r in totals), 6)
    metrics = _sum_metrics(parts)
    _finish(run, started, metrics, report, report_path, metrics_path)
    return {"metrics": metrics, "report": report, "run": run}


def _reason(error: str) -> str:
    """A failure message without its request-specific details, to count reasons in the log."""
    return error.split("; last: ", 1)[-1].split(":", 1)[0]
