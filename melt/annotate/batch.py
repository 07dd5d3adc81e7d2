"""The `openai-batch` backend: the Batch API (upload JSONL, create, poll, download, merge into the cache).

Resumable: a round's batch is named by the sha256 of its input file, and its ids are recorded in
`<answer store>/batches/<sha>.json` before and after creation (beside the store, shared by every
experiment, never in a DVC output: batch ids are run-dependent). A re-run after an interruption
computes the same input (the store has not changed), finds the state file and polls the same batch
instead of submitting it again; two runs with the same input at once take turns on the state
file's lock, so the second polls the first one's batch. A run killed between `create` and writing
the batch id is covered too: the batch carries the input's sha256 in its metadata, and the re-run
finds it in the batch list. Re-asks after invalid answers go in a next round (new seeds, new keys).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import openai
from tqdm import tqdm

from melt.annotate.backends import FatalBackendError, Reply, api_key, redact
from melt.annotate.engine import Check, Progress, Stats, cost_of, next_needed, store_record
from melt.annotate.params import AnnotateParams
from melt.annotate.schema import check_answer
from melt.annotate.store import AnswerStore
from melt.io import write_json

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def _client(params: AnnotateParams) -> openai.OpenAI:
    # Control-plane calls (a handful per run): the client's own retries are enough here.
    return openai.OpenAI(api_key=api_key(params), base_url=params.base_url, max_retries=5, timeout=params.timeout_s)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on `path` (created if missing) for the duration of the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build_input(prompts: Iterable[dict], store: AnswerStore, params: AnnotateParams, skip: set[str], check: Check):
    lines, owners = [], {}
    for prompt in prompts:
        needed = next_needed(prompt, store, params.max_invalid_retries, check)
        if needed is None or prompt["key"] in skip:
            continue
        _, key, body = needed
        if key in owners:
            continue
        owners[key] = prompt["key"]
        lines.append(json.dumps({"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body},
                                sort_keys=True, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b"", owners


def _status_error(batch) -> str:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    return "; ".join(redact(e.message or "") for e in data) or f"batch {batch.id} {batch.status}"


def fill_batch(prompts: Callable[[], Iterable[dict]], store: AnswerStore, params: AnnotateParams,
               progress: Progress, state_dir: Path, client: openai.OpenAI | None = None,
               check: Check = check_answer) -> Stats:
    client = client or _client(params)
    stats, skip = Stats(), set()
    state_dir.mkdir(parents=True, exist_ok=True)
    for p in prompts():
        stats.requests += 1
        if next_needed(p, store, params.max_invalid_retries, check) is None:
            stats.cache_hits += 1
    progress.update(stats, stats.cache_hits)
    for _round in range(params.max_invalid_retries + 1):
        content, owners = _build_input(prompts(), store, params, skip, check)
        if not owners:
            break
        sha = hashlib.sha256(content).hexdigest()
        state_path = state_dir / f"{sha}.json"
        with _locked(state_dir / f"{sha}.lock"):
            batch = _run_round(client, content, sha, state_path, owners, store, params, stats, skip)
        if batch.status != "completed" and not batch.output_file_id:
            for key, owner in owners.items():
                stats.failures.setdefault(owner, _status_error(batch))
                skip.add(owner)
    done_now = sum(1 for p in prompts() if next_needed(p, store, params.max_invalid_retries, check) is None)
    progress.update(stats, max(0, done_now - stats.cache_hits) + len(stats.failures))
    return stats


def _run_round(client, content: bytes, sha: str, state_path: Path, owners: dict[str, str], store: AnswerStore,
               params: AnnotateParams, stats: Stats, skip: set[str]):
    """Submit (or find again) the batch of this input, wait for it and merge its answers into the store."""
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"input_sha256": sha}
    try:
        if "batch_id" not in state:
            if "input_file_id" not in state:
                uploaded = client.files.create(file=(f"melt-{sha[:16]}.jsonl", io.BytesIO(content)), purpose="batch")
                state["input_file_id"] = uploaded.id
                write_json(state_path, state)
            batch = _already_submitted(client, state["input_file_id"], sha) or client.batches.create(
                input_file_id=state["input_file_id"], endpoint="/v1/chat/completions",
                completion_window="24h", metadata={"melt_input_sha256": sha})
            state["batch_id"] = batch.id
            write_json(state_path, state)
            stats.requests_sent += len(owners)
        batch = _poll(client, state["batch_id"], len(owners), params.batch_poll_s)
        _merge(client, batch, owners, store, params, stats, skip)
    except openai.APIStatusError as err:
        raise FatalBackendError(f"Batch API HTTP {err.status_code} from {params.base_url or 'api.openai.com'}: "
                                f"{redact(err.message)}") from None
    state["status"] = batch.status
    write_json(state_path, state)
    return batch


def _already_submitted(client: openai.OpenAI, input_file_id: str, sha: str, scan: int = 1000):
    """A batch for this input that a run killed between `create` and writing its state did submit."""
    for i, batch in enumerate(client.batches.list(limit=100)):   # newest first; the SDK pages on
        if i >= scan:
            return None
        if (batch.input_file_id == input_file_id and (batch.metadata or {}).get("melt_input_sha256") == sha
                and batch.status not in {"failed", "expired", "cancelled"}):
            return batch
    return None


def _poll(client: openai.OpenAI, batch_id: str, total: int, every_s: float):
    with tqdm(total=total, desc=f"batch {batch_id}", unit="req", mininterval=0.5) as bar:
        while True:
            batch = client.batches.retrieve(batch_id)
            counts = batch.request_counts
            if counts is not None:
                bar.n = counts.completed + counts.failed
                bar.set_postfix(status=batch.status, refresh=True)
            if batch.status in TERMINAL:
                return batch
            time.sleep(every_s)


def _merge(client, batch, owners: dict[str, str], store: AnswerStore, params: AnnotateParams, stats: Stats,
           skip: set[str]) -> None:
    seen = set()
    for file_id, is_error in ((batch.output_file_id, False), (batch.error_file_id, True)):
        if not file_id:
            continue
        for line in client.files.content(file_id).text.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key = item.get("custom_id")
            if key not in owners:
                continue
            seen.add(key)
            response = item.get("response") or {}
            body = response.get("body") or {}
            if is_error or item.get("error") or response.get("status_code") != 200:
                err = item.get("error") or body.get("error") or {}
                msg = err.get("message", "") if isinstance(err, dict) else str(err)
                stats.failures.setdefault(owners[key], f"batch request failed: {redact(msg)}")
                skip.add(owners[key])
                continue
            choices = body.get("choices") or [{}]
            usage = body.get("usage") or {}
            reply = Reply((choices[0].get("message") or {}).get("content"), usage.get("prompt_tokens", 0),
                          usage.get("completion_tokens", 0), 1)
            stats.answers_received += 1
            stats.prompt_tokens += reply.prompt_tokens
            stats.completion_tokens += reply.completion_tokens
            stats.cost_usd += cost_of(params, params.model, reply.prompt_tokens, reply.completion_tokens, batch=True)
            store.put(key, store_record("openai-batch", params.model, reply))   # the requests' model (effective_model)
    for key in owners.keys() - seen:
        if batch.status == "completed":
            stats.failures.setdefault(owners[key], f"batch {batch.id}: no result for request")
            skip.add(owners[key])
