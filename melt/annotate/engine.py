"""The annotation engine: stream requests, answer what the store lacks concurrently, resolve from the store.

Prompt-independent: a request is a record with `key`, `provider`, `sample` and a chat-completions
`body`; what makes an answer valid is the `check` function (MELT's JSON structure by default).

Pass 1 (`Engine.fill`) streams the requests; a request whose re-ask chain the store settles costs
nothing, the others run as tasks bounded by `annotate.concurrency` (memory flat in the number of
requests), each answer appended to the store as soon as it arrives (a kill loses only in-flight
requests); an answer counts as received once an fsync covers it (`GroupCommit`). Pass 2 (`resolve`) reads each request's chain from the store alone, so the same store
gives the same annotations, whatever happened during the run (timings, retries, concurrent runs).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tqdm import tqdm

from melt.annotate.backends import RetriesExhausted
from melt.annotate.limits import StoreDurability
from melt.annotate.params import AnnotateParams
from melt.annotate.requests import with_seed
from melt.annotate.schema import Checked, check_answer
from melt.annotate.store import AnswerStore, GroupCommit

Check = Callable[[str | None], Checked]

# What a failed request's record says: the same store gives the same bytes, so the run's own reason
# (HTTP status, timeout...) goes to the log, never into the annotation.
NO_ANSWER = "no answer in the answer store (the request failed or was not sent: see the annotate log)"


@dataclass
class Stats:
    """What this run did: for the log and metrics/annotate.json only (never in an output a stage reads)."""
    requests: int = 0            # prompts (utterance × sample) seen
    cache_hits: int = 0          # prompts the store settled before this run asked anything
    requests_sent: int = 0       # backend calls (HTTP attempts for network backends), retries and hedges included
    hedges: int = 0              # hedge copies sent (a cost: each is a paid request)
    answers_received: int = 0
    answers_concurrent: int = 0  # answers another run stored first (theirs is kept: first record wins)
    reasks: int = 0              # re-asks after an answer that did not validate
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failures: dict = field(default_factory=dict)   # prompt key → reason; no answer this run


def cost_of(params: AnnotateParams, model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
    price = params.prices.get(model)
    if price is None:
        return 0.0
    usd = (prompt_tokens * price.input_per_1m + completion_tokens * price.output_per_1m) / 1e6
    return usd * (params.batch_discount if batch else 1.0)


def store_record(backend: str, model: str, reply) -> dict:
    """An answer as stored: what was answered and its tokens. How the purchase went (latency, retries) is
    the run's business (the log): the same answer bought twice is the same record, hence the same snapshot."""
    return {"backend": backend, "model": model, "raw": reply.raw, "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens}


def next_needed(prompt: dict, store: AnswerStore, max_invalid_retries: int,
                check: Check = check_answer) -> tuple[int, str, dict] | None:
    """The first request of the prompt's re-ask chain still to be asked, or None when the store settles it."""
    for attempt in range(max_invalid_retries + 1):
        key, body = with_seed(prompt, attempt)
        rec = store.get(key)
        if rec is None:
            return attempt, key, body
        if check(rec["raw"]).label is not None:
            return None
    return None


def total_concurrency(params) -> int:
    """Prompts in flight: `concurrency` per endpoint (× its weight), like `rpm` and `tpm`."""
    endpoints = getattr(params, "endpoints", None) or []
    if not endpoints:
        return params.concurrency
    return max(params.concurrency, math.ceil(params.concurrency * sum(e.weight for e in endpoints)))


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
            self.bar.set_postfix(req_s=f"{rate:.1f}", hedges=stats.hedges,
                                 tokens=stats.prompt_tokens + stats.completion_tokens, cost=f"${stats.cost_usd:.4f}",
                                 refresh=False)

    def close(self) -> None:
        self.bar.close()


class Engine:
    def __init__(self, backend, store: AnswerStore, params: AnnotateParams, progress: Progress,
                 check: Check = check_answer):
        self.backend, self.store, self.params, self.progress, self.check = backend, store, params, progress, check
        self.stats = Stats()
        self.active = 0   # answering tasks: a group commit never waits for answers that cannot come
        # offline answers cost nothing to recompute: only bought answers wait for an fsync
        durability = (store.durability or StoreDurability()) if backend.name != "offline" \
            else StoreDurability(fsync_every=0)
        self.commit = GroupCommit(store, durability, active=lambda: self.active)
        if hasattr(backend, "valid"):   # hedged copies race for a valid answer, not just any answer
            backend.valid = lambda raw: check(raw).label is not None

    async def _answer(self, prompt: dict, attempt: int, key: str, body: dict) -> None:
        """Ask until the chain settles (a valid answer, or re-asks exhausted); every answer is stored at once."""
        st = self.stats
        while True:
            rec = self.store.get(key)   # another run may have stored it since this prompt was queued
            if rec is None:
                try:
                    reply = await self.backend.complete(prompt, body)
                except RetriesExhausted as err:
                    st.requests_sent += err.attempts
                    st.failures[prompt["key"]] = str(err)
                    return
                st.requests_sent += reply.attempts
                st.hedges += getattr(reply, "hedges", 0)
                st.prompt_tokens += reply.prompt_tokens
                st.completion_tokens += reply.completion_tokens
                st.cost_usd += cost_of(self.params, body["model"], reply.prompt_tokens, reply.completion_tokens)
                mine = store_record(self.backend.name, body["model"], reply)
                rec = self.store.put(key, mine)   # the canonical record: another run's, if it stored first
                await self.commit.stored()        # acknowledged only once on disk
                st.answers_received += 1
                st.answers_concurrent += rec != mine
            if self.check(rec["raw"]).label is not None or attempt >= self.params.max_invalid_retries:
                return
            attempt += 1
            st.reasks += 1
            key, body = with_seed(prompt, attempt)

    async def fill(self, prompts: Iterable[dict]) -> Stats:
        sem = asyncio.Semaphore(total_concurrency(self.params))
        pending: set[asyncio.Task] = set()
        fatal: list[BaseException] = []

        def done(task: asyncio.Task) -> None:
            pending.discard(task)
            self.active -= 1
            sem.release()
            self.progress.update(self.stats)
            if not task.cancelled() and task.exception() is not None:
                fatal.append(task.exception())

        for prompt in prompts:
            self.stats.requests += 1
            needed = next_needed(prompt, self.store, self.params.max_invalid_retries, self.check)
            if needed is None:
                self.stats.cache_hits += 1
                self.progress.update(self.stats)
                continue
            await sem.acquire()
            if fatal:
                sem.release()
                break
            self.active += 1
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


@dataclass
class Resolved:
    fields: dict          # status, label, parsed, raw, error, backend, model, tokens, asks
    keys: list[str]       # store keys read (the records the annotation comes from)
    cost_usd: float       # what those answers cost when bought, at the configured prices


def resolve(prompt: dict, store: AnswerStore, params: AnnotateParams, check: Check = check_answer) -> Resolved:
    """A request's answer from the store alone: the first valid answer of its re-ask chain."""
    out = {"backend": params.backend, "model": prompt["body"]["model"], "status": "failed", "label": None,
           "parsed": None, "raw": None, "error": NO_ANSWER, "prompt_tokens": 0, "completion_tokens": 0, "asks": 0}
    keys, cost = [], 0.0
    for attempt in range(params.max_invalid_retries + 1):
        key, _ = with_seed(prompt, attempt)
        rec = store.get(key)
        if rec is None:
            out.update(status="failed", label=None, parsed=None, raw=None, error=NO_ANSWER)
            return Resolved(out, keys, cost)
        keys.append(key)
        checked = check(rec["raw"])
        out["backend"], out["model"] = rec["backend"], rec["model"]
        out["prompt_tokens"] += rec["prompt_tokens"]
        out["completion_tokens"] += rec["completion_tokens"]
        out["asks"] += 1
        cost += cost_of(params, rec["model"], rec["prompt_tokens"], rec["completion_tokens"],
                        batch=rec["backend"] == "openai-batch")
        out.update(raw=rec["raw"], parsed=checked.parsed, label=checked.label, error=checked.error,
                   status="ok" if checked.label else "invalid")
        if checked.label:
            return Resolved(out, keys, cost)
    out["error"] = f"{out['error']} (after {params.max_invalid_retries} re-asks)"
    return Resolved(out, keys, cost)
