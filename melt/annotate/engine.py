"""The annotation engine: stream requests, answer misses concurrently, resolve every request from the cache.

Pass 1 (`fill`) streams the requests; a request whose answer chain is complete in the cache costs
nothing, the others run as tasks bounded by `annotate.concurrency` (memory flat in the number of
requests), each answer appended to the cache as soon as it arrives (a kill loses only in-flight
requests). Pass 2 (`resolve`) streams the requests again and writes one record per request from
the cache alone, so a re-run over a complete cache writes byte-identical annotations.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from melt.annotate.backends import RetriesExhausted
from melt.annotate.cache import ResponseCache
from melt.annotate.params import AnnotateParams
from melt.annotate.requests import with_seed
from melt.annotate.answers import check


@dataclass
class Stats:
    requests: int = 0            # prompts (utterance × sample) seen
    cache_hits: int = 0          # prompts answered from the cache alone
    requests_sent: int = 0       # backend calls (HTTP attempts for network backends), retries included
    answers_received: int = 0
    reasks: int = 0              # re-asks after an answer that did not validate
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failures: dict = field(default_factory=dict)   # prompt key → (error, attempts); no answer this run


def cost_of(params: AnnotateParams, model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
    price = params.prices.get(model)
    if price is None:
        return 0.0
    usd = (prompt_tokens * price.input_per_1m + completion_tokens * price.output_per_1m) / 1e6
    return usd * (params.batch_discount if batch else 1.0)


def cache_record(backend: str, model: str, reply) -> dict:
    return {"backend": backend, "model": model, "raw": reply.raw, "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens, "latency_s": reply.latency_s, "attempts": reply.attempts}


def next_needed(prompt: dict, cache: ResponseCache, max_invalid_retries: int) -> tuple[int, str, dict] | None:
    """The first request of the prompt's re-ask chain still to be asked, or None when the cache settles it."""
    for attempt in range(max_invalid_retries + 1):
        key, body = with_seed(prompt, attempt)
        rec = cache.get(key)
        if rec is None:
            return attempt, key, body
        if check(prompt, rec["raw"]).label is not None:
            return None
    return None


class Progress:
    """tqdm bar: done/total prompts, with req/s, tokens and cost so far in the postfix."""

    def __init__(self, total: int, enabled: bool, desc: str = "annotate"):
        self.bar = tqdm(total=total, desc=desc, unit="prompt", disable=not enabled, mininterval=0.5)
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, stats: Stats, n: int = 1) -> None:
        self.bar.update(n)
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            rate = stats.requests_sent / max(now - self.started, 1e-9)
            self.bar.set_postfix(req_s=f"{rate:.1f}", tokens=stats.prompt_tokens + stats.completion_tokens,
                                 cost=f"${stats.cost_usd:.4f}", refresh=False)

    def close(self) -> None:
        self.bar.close()


class Engine:
    def __init__(self, backend, cache: ResponseCache, params: AnnotateParams, progress: Progress):
        self.backend, self.cache, self.params, self.progress = backend, cache, params, progress
        self.stats = Stats()

    async def _answer(self, prompt: dict, attempt: int, key: str, body: dict) -> None:
        """Ask until the chain settles (a valid answer, or re-asks exhausted); every answer is cached at once."""
        attempts_used = 0
        while True:
            try:
                reply = await self.backend.complete(prompt, body)
            except RetriesExhausted as err:
                self.stats.requests_sent += err.attempts
                self.stats.failures[prompt["key"]] = (str(err), attempts_used + err.attempts)
                return
            attempts_used += reply.attempts
            st = self.stats
            st.requests_sent += reply.attempts
            st.answers_received += 1
            st.prompt_tokens += reply.prompt_tokens
            st.completion_tokens += reply.completion_tokens
            st.cost_usd += cost_of(self.params, body["model"], reply.prompt_tokens, reply.completion_tokens)
            self.cache.put(key, cache_record(self.backend.name, body["model"], reply))
            if check(prompt, reply.raw).label is not None or attempt >= self.params.max_invalid_retries:
                return
            attempt += 1
            st.reasks += 1
            key, body = with_seed(prompt, attempt)
            if key in self.cache:   # another run answered the re-ask meanwhile
                needed = next_needed(prompt, self.cache, self.params.max_invalid_retries)
                if needed is None:
                    return
                attempt, key, body = needed

    async def fill(self, prompts: Iterable[dict]) -> Stats:
        sem = asyncio.Semaphore(self.params.concurrency)
        pending: set[asyncio.Task] = set()
        fatal: list[BaseException] = []

        def done(task: asyncio.Task) -> None:
            pending.discard(task)
            sem.release()
            self.progress.update(self.stats)
            if not task.cancelled() and task.exception() is not None:
                fatal.append(task.exception())

        for prompt in prompts:
            self.stats.requests += 1
            needed = next_needed(prompt, self.cache, self.params.max_invalid_retries)
            if needed is None:
                self.stats.cache_hits += 1
                self.progress.update(self.stats)
                continue
            await sem.acquire()
            if fatal:
                sem.release()
                break
            task = asyncio.create_task(self._answer(prompt, *needed))
            pending.add(task)
            task.add_done_callback(done)
        if fatal:
            for task in list(pending):
                task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if fatal:
            raise fatal[0]
        return self.stats


def resolve(prompt: dict, cache: ResponseCache, params: AnnotateParams, failures: dict) -> dict:
    """The annotation record of one request, from the cache (and this run's failures)."""
    out = {"split": prompt["split"], "dialogue_id": prompt["dialogue_id"], "utterance_id": prompt["utterance_id"],
           "sample": prompt["sample"], "key": prompt["key"], "backend": params.backend, "model": prompt["body"]["model"],
           "status": "failed", "label": None, "parsed": None, "raw": None, "error": None,
           "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0, "attempts": 0}
    for attempt in range(params.max_invalid_retries + 1):
        key, _ = with_seed(prompt, attempt)
        rec = cache.get(key)
        if rec is None:
            error, attempts = failures.get(prompt["key"], ("no answer (run interrupted?)", 0))
            out.update(status="failed", label=None, parsed=None, raw=None, error=error)
            out["attempts"] += attempts
            return out
        checked = check(prompt, rec["raw"])
        out["backend"], out["model"] = rec["backend"], rec["model"]
        out["prompt_tokens"] += rec["prompt_tokens"]
        out["completion_tokens"] += rec["completion_tokens"]
        out["latency_s"] = round(out["latency_s"] + rec["latency_s"], 4)
        out["attempts"] += rec["attempts"]
        out.update(raw=rec["raw"], parsed=checked.parsed, label=checked.label, error=checked.error,
                   status="ok" if checked.label else "invalid")
        if checked.label:
            return out
    if out["status"] == "invalid":
        out["error"] = f"{out['error']} (after {params.max_invalid_retries} re-asks)"
    return out


class SplitWriter:
    """Per-split JSONL files written to temp names and moved into place only when complete."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, tuple[Path, object]] = {}

    def _file(self, split: str):
        if split not in self.files:
            fd, tmp = tempfile.mkstemp(prefix=f".{split}.", dir=self.out_dir)
            self.files[split] = (Path(tmp), os.fdopen(fd, "w", encoding="utf-8"))
        return self.files[split][1]

    def write(self, record: dict) -> None:
        self._file(record["split"]).write(json.dumps(record, ensure_ascii=False) + "\n")

    def commit(self, splits: Iterable[str]) -> None:
        for split in splits:   # a split with no request still gets its (empty) file
            self._file(split)
        for split, (tmp, f) in self.files.items():
            f.close()
            os.replace(tmp, self.out_dir / f"{split}.jsonl")


def summarize(records: Iterator[dict], writer: SplitWriter) -> dict:
    counts = {"ok": 0, "invalid": 0, "failed": 0}
    tokens = {"prompt": 0, "completion": 0}
    for rec in records:
        writer.write(rec)
        counts[rec["status"]] += 1
        tokens["prompt"] += rec["prompt_tokens"]
        tokens["completion"] += rec["completion_tokens"]
    return {"status": counts, "tokens": tokens}
