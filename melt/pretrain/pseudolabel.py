"""Entry point of the `pseudolabel` stage: transcripts → one LLM label per item, through the annotation engine.

Requests are built exactly as `annotate` builds them (same key: provider, model, messages, sampling, seed,
sample) and answered by the same engine, backends, limits, re-asks and answer store, so a prompt asked by
both stages is paid once. Answers are validated against the chosen label set: `sentiment` expects one word
(melt.annotate.answers.check_one_word), `emotion` MELT's JSON. Offline, `sentiment` prompts are answered by
VADER and `emotion` prompts by the rule-based heuristic: baselines, not LLMs, named in every output.

ADAPTER (to revisit once the shared answer store of issue 9 lands on main): the store is opened at
`melt.repo.shared_path(None, "cache/llm-store")`, the default location of that store, outside every DVC
output (today's `cache/llm` is annotate's DVC output: writing there would make annotate look modified), and
this stage writes its own snapshot of the answers it used (`data/pseudolabels/<corpus>_answers.jsonl`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from string import Template

import pandas as pd

from melt.annotate.answers import check
from melt.annotate.backends import OfflineBackend, OpenAIBackend, Reply
from melt.annotate.cache import ResponseCache
from melt.annotate.engine import Engine, Progress, Stats, cost_of, resolve
from melt.annotate.heuristic import HEURISTIC_ID
from melt.annotate.requests import canonical_json, load_template, request_key, response_format_body, with_seed
from melt.io import write_csv, write_json, write_text
from melt.pretrain.params import SENTIMENTS, PseudolabelParams
from melt.pretrain.sentiment import VADER_ID, vader_label
from melt.repo import shared_path

STORE = "cache/llm-store"   # the repository's answer store (issue 9), shared by every run and experiment
SNAPSHOT_FIELDS = ("backend", "model", "raw", "prompt_tokens", "completion_tokens")
COLUMNS = ["item_id", "text", "label", "status", "valid_samples", "votes", "answer", "error"]


def offline_model(params: PseudolabelParams) -> str:
    return VADER_ID if params.labels == "sentiment" else HEURISTIC_ID


def effective_model(params: PseudolabelParams) -> str:
    return offline_model(params) if params.backend == "offline" else params.model


def render(template: Template, params: PseudolabelParams, text: str) -> str:
    # A MELT-style template also names a show, speaker, season and episode; a podcast has none of them.
    return template.substitute(show=params.show, speaker="Speaker", season=1, episode=1, utterance=text.strip())


def build_requests(items: pd.DataFrame, template: Template, params: PseudolabelParams, corpus: str) -> list[dict]:
    provider, model = params.provider_name, effective_model(params)
    fmt = response_format_body(params.response_format)
    answer = {"kind": "one_word", "labels": list(SENTIMENTS)} if params.labels == "sentiment" else None
    requests = []
    for n, row in enumerate(items.to_dict("records")):
        messages = [{"role": "user", "content": render(template, params, row["text"])}]
        for sample in range(params.samples):
            body = {"model": model, "messages": messages, "temperature": params.temperature, "top_p": params.top_p,
                    "max_tokens": params.max_tokens, "seed": params.seed + sample}
            if fmt is not None:
                body["response_format"] = fmt
            req = {"split": corpus, "dialogue_id": 0, "utterance_id": n, "item_id": row["item_id"], "sample": sample,
                   "key": request_key(provider, body, sample), "provider": provider, "speaker": "Speaker",
                   "utterance": row["text"], "body": body}
            if answer is not None:
                req["answer"] = answer
            requests.append(req)
    return requests


class VaderBackend:
    """The engine's offline backend for sentiment prompts: the transcript's VADER label, as one word."""

    name = "offline"
    model = VADER_ID

    async def complete(self, prompt: dict, body: dict) -> Reply:
        return Reply(vader_label(prompt["utterance"]), 0, 0, 0.0, 1)

    async def aclose(self) -> None:
        pass


def _fill(params: PseudolabelParams, requests: list[dict], cache: ResponseCache, progress: Progress) -> Stats:
    if params.backend == "openai-batch":
        from melt.annotate.batch import fill_batch

        return fill_batch(lambda: iter(requests), cache, params, progress, Path(cache.root) / "batches")

    async def go() -> Stats:
        if params.backend == "offline":
            backend = VaderBackend() if params.labels == "sentiment" else OfflineBackend()
        else:
            backend = OpenAIBackend(params)
        try:
            return await Engine(backend, cache, params, progress).fill(requests)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def vote(records: list[dict]) -> tuple[str | None, str]:
    """Majority label over the valid samples; a tie goes to the label of the earliest sample among the tied."""
    labels = [r["label"] for r in records if r["label"]]
    if not labels:
        return None, ""
    counts = Counter(labels)
    top = max(counts.values())
    winner = next(label for label in labels if counts[label] == top)
    return winner, " ".join(f"{k}:{counts[k]}" for k in sorted(counts))


def dry_run(params: PseudolabelParams, requests: list[dict], cache: ResponseCache) -> dict:
    """Tokens and cost of the requests the store cannot answer; nothing is called and no output is written."""
    from melt.annotate.backends import estimate_prompt_tokens
    from melt.annotate.engine import next_needed

    todo = [r for r in requests if next_needed(r, cache, params.max_invalid_retries) is not None]
    prompt_tokens = sum(estimate_prompt_tokens(r["body"]) for r in todo)
    completion = len(todo) * params.expected_completion_tokens
    model = effective_model(params)
    return {"dry_run": True, "requests": len(requests), "requests_to_send": len(todo), "model": model,
            "estimated_prompt_tokens": prompt_tokens, "estimated_completion_tokens": completion,
            "estimated_cost_usd": round(cost_of(params, model, prompt_tokens, completion,
                                                batch=params.backend == "openai-batch"), 4),
            "price_known": model in params.prices}


def pseudolabel(params: PseudolabelParams, corpus: str, transcripts: str | Path, out_dir: str | Path = "data/pseudolabels",
                metrics_path: str | Path = "metrics/pseudolabel.json", report_dir: str | Path = "reports/pseudolabel",
                templates_dir: str | Path = "prompts", store: str | Path | None = None,
                progress: bool | None = None) -> dict:
    transcripts = Path(transcripts)
    items = pd.read_csv(transcripts, keep_default_na=False, dtype={"item_id": str, "text": str})
    missing = {"item_id", "text"} - set(items.columns)
    if missing:
        raise ValueError(f"{transcripts}: missing column(s) {sorted(missing)} (run the transcribe stage)")
    template = load_template(params.template, Path(templates_dir))
    requests = build_requests(items, template, params, corpus)
    progress = sys.stderr.isatty() if progress is None else progress
    cache = ResponseCache(store if store is not None else shared_path(None, STORE))
    try:
        bar = Progress(len(requests), progress, desc="pseudolabel")
        if params.dry_run:
            return dry_run(params, requests, cache)
        try:
            stats = _fill(params, requests, cache, bar)
        finally:
            bar.close()
        resolved = [resolve(r, cache, params, stats.failures) for r in requests]
        used = {}
        for r in requests:   # the answers this output rests on (every re-ask of the chain), for the snapshot
            for attempt in range(params.max_invalid_retries + 1):
                key, _ = with_seed(r, attempt)
                rec = cache.get(key)
                if rec is None:
                    break
                used[key] = rec
                if check(r, rec["raw"]).label is not None:
                    break
    finally:
        cache.close()

    rows, per_item = [], {}
    for req, rec in zip(requests, resolved):
        per_item.setdefault(req["item_id"], []).append(rec)
    for item in items.to_dict("records"):
        recs = per_item[item["item_id"]]
        label, votes = vote(recs)
        first_bad = next((r for r in recs if not r["label"]), None)
        rows.append({"item_id": item["item_id"], "text": item["text"], "label": label or "",
                     "status": "ok" if label else recs[0]["status"],
                     "valid_samples": sum(1 for r in recs if r["label"]), "votes": votes,
                     "answer": recs[0]["raw"] or "", "error": first_bad["error"] if first_bad and not label else ""})
    table = pd.DataFrame(rows, columns=COLUMNS)
    out_dir = Path(out_dir)
    write_csv(table, out_dir / f"{corpus}.csv")
    # the answer and its tokens only: latency and attempts depend on the run that bought it, not on the answer
    write_text(out_dir / f"{corpus}_answers.jsonl", "".join(
        canonical_json({"key": k, **{f: used[k][f] for f in SNAPSHOT_FIELDS}}) + "\n" for k in sorted(used)))

    prompt_tokens = sum(r["prompt_tokens"] for r in resolved)
    completion_tokens = sum(r["completion_tokens"] for r in resolved)
    model = effective_model(params)
    cost = round(cost_of(params, model, prompt_tokens, completion_tokens, batch=params.backend == "openai-batch"), 6)
    status = table["status"].value_counts()
    labelled = int(status.get("ok", 0))
    headline = {"labelled": labelled, "failed": len(table) - labelled, "cost_usd": cost}
    write_json(metrics_path, headline)
    write_json(Path(report_dir) / f"{corpus}.json", {
        "corpus": corpus, "backend": params.backend, "model": model, "template": params.template,
        "labels": params.labels, "lexicon_or_heuristic_baseline": params.backend == "offline",
        "items": len(table), "requests": len(requests), "samples": params.samples,
        "status": {k: int(v) for k, v in status.sort_index().items()},
        "label_distribution": {k: int(v) for k, v in table.loc[table["label"] != "", "label"].value_counts()
                               .sort_index().items()},
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cost_usd": cost,
        "price_known": model in params.prices,
        "not_labelled": [{"item_id": r["item_id"], "status": r["status"], "error": r["error"]}
                         for r in rows if not r["label"]],
    })
    # Run-dependent counts (what this run paid, what the store answered) go to the caller's log only.
    return {**headline, "requests": stats.requests, "cache_hits": stats.cache_hits,
            "requests_sent": stats.requests_sent, "paid_usd": round(stats.cost_usd, 6), "model": model,
            "dry_run": False}
