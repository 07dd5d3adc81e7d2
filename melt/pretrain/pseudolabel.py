"""Entry point of the `pseudolabel` stage: transcripts → one LLM label per item, through the annotation engine.

Requests are built exactly as `annotate` builds them (same key: provider, model, messages, sampling, seed,
sample) and answered by the same engine entry (`melt.annotate.run.fill`), backends, limits, re-asks and the
repository's one answer store (`annotate.store`), so a prompt asked by both stages is paid once. Answers are
validated against the chosen label set: `sentiment` expects one word (melt.pretrain.sentiment.check_sentiment),
`emotion` MELT's JSON. Offline, sentiment prompts are answered by VADER and emotion prompts by the rule-based
heuristic: baselines, not LLMs, named in every output. The answers this output rests on are snapshotted in
the store's format (`data/pseudolabels/<corpus>_answers/`, DVC-versioned) and imported into the store first on
a fresh clone, like annotate's.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from string import Template
from types import SimpleNamespace

import pandas as pd

from melt.annotate.backends import OfflineBackend
from melt.annotate.engine import Progress, resolve
from melt.annotate.heuristic import HEURISTIC_ID
from melt.annotate.requests import load_template, sample_requests
from melt.annotate.run import dry_run as estimate
from melt.annotate.run import fill, store_path
from melt.annotate.schema import check_answer
from melt.annotate.snapshot import import_snapshot, write_snapshot
from melt.annotate.store import AnswerStore
from melt.io import write_csv, write_json
from melt.pretrain.params import PseudolabelParams
from melt.pretrain.sentiment import VADER_ID, check_sentiment, vader_label

COLUMNS = ["item_id", "text", "label", "status", "valid_samples", "votes", "answer", "error"]


def effective_model(params: PseudolabelParams) -> str:
    if params.backend != "offline":
        return params.model
    return VADER_ID if params.labels == "sentiment" else HEURISTIC_ID


def checker(params: PseudolabelParams):
    return check_sentiment if params.labels == "sentiment" else check_answer


def render(template: Template, params: PseudolabelParams, text: str) -> str:
    # A MELT-style template also names a show, speaker, season and episode; a podcast has none of them.
    return template.substitute(show=params.show, speaker="Speaker", season=1, episode=1, utterance=text.strip())


def build_requests(items: pd.DataFrame, template: Template, params: PseudolabelParams, corpus: str) -> list[dict]:
    """One request per (item, sample), built as annotate builds its text requests (melt.annotate.requests)."""
    model = effective_model(params)
    requests = []
    for n, row in enumerate(items.to_dict("records")):
        base = {"split": corpus, "dialogue_id": 0, "utterance_id": n, "item_id": row["item_id"],
                "speaker": "Speaker", "utterance": row["text"]}
        requests += sample_requests(base, [{"role": "user", "content": render(template, params, row["text"])}],
                                    params, model)
    return requests


def vader_answer(prompt: dict) -> str:
    """The offline answer to a sentiment prompt: the transcript's VADER label, as the one word asked for."""
    return vader_label(prompt["utterance"])


def vote(records: list[dict]) -> tuple[str | None, str]:
    """Majority label over the valid samples; a tie goes to the label of the earliest sample among the tied."""
    labels = [r["label"] for r in records if r["label"]]
    if not labels:
        return None, ""
    counts = Counter(labels)
    top = max(counts.values())
    winner = next(label for label in labels if counts[label] == top)
    return winner, " ".join(f"{k}:{counts[k]}" for k in sorted(counts))


def dry_run(params: PseudolabelParams, requests: list[dict], store: AnswerStore) -> dict:
    """Tokens and cost of the requests the store cannot answer (annotate's estimate); nothing is called and no
    output is written."""
    model = effective_model(params)
    return {"dry_run": True, "model": model, **estimate(params, requests, store, checker(params), model)}


def pseudolabel(params: PseudolabelParams, corpus: str, transcripts: str | Path, store: str | Path | None = None,
                out_dir: str | Path = "data/pseudolabels", metrics_path: str | Path = "metrics/pseudolabel.json",
                report_dir: str | Path = "reports/pseudolabel", templates_dir: str | Path = "prompts",
                progress: bool | None = None) -> dict:
    """`store`: the answer store folder as `annotate.store` names it (the stage passes that one: one store per
    repository); null = its default, `cache/llm-store` under the repository root."""
    transcripts, out_dir = Path(transcripts), Path(out_dir)
    items = pd.read_csv(transcripts, keep_default_na=False, dtype={"item_id": str, "text": str})
    missing = {"item_id", "text"} - set(items.columns)
    if missing:
        raise ValueError(f"{transcripts}: missing column(s) {sorted(missing)} (run the transcribe stage)")
    template = load_template(params.template, Path(templates_dir), "pseudolabel.template")
    requests = build_requests(items, template, params, corpus)
    progress = sys.stderr.isatty() if progress is None else progress
    check = checker(params)
    snapshot_dir = out_dir / f"{corpus}_answers"
    with AnswerStore(store_path(SimpleNamespace(store=store), snapshot_dir)) as answer_store:
        imported, problems = import_snapshot(snapshot_dir, answer_store)
        if params.dry_run:
            return dry_run(params, requests, answer_store)
        bar = Progress(len(requests), progress, desc="pseudolabel")
        try:
            offline = OfflineBackend(vader_answer, VADER_ID) if params.labels == "sentiment" else None
            stats = fill(params, lambda: iter(requests), answer_store, bar, check=check, offline=offline)
        finally:
            bar.close()
        resolved = [resolve(r, answer_store, params, check) for r in requests]
        answers = write_snapshot(snapshot_dir, answer_store, {k for r in resolved for k in r.keys})

    per_item: dict[str, list[dict]] = {}
    for req, res in zip(requests, resolved):
        per_item.setdefault(req["item_id"], []).append(res.fields)
    rows = []
    for item in items.to_dict("records"):
        recs = per_item[item["item_id"]]
        label, votes = vote(recs)
        first_bad = next((r for r in recs if not r["label"]), None)
        rows.append({"item_id": item["item_id"], "text": item["text"], "label": label or "",
                     "status": "ok" if label else recs[0]["status"],
                     "valid_samples": sum(1 for r in recs if r["label"]), "votes": votes,
                     "answer": recs[0]["raw"] or "", "error": first_bad["error"] if first_bad and not label else ""})
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(table, out_dir / f"{corpus}.csv")

    model = effective_model(params)
    cost = round(sum(r.cost_usd for r in resolved), 6)
    status = table["status"].value_counts()
    labelled = int(status.get("ok", 0))
    headline = {"labelled": labelled, "failed": len(table) - labelled, "cost_usd": cost}
    write_json(metrics_path, headline)
    write_json(Path(report_dir) / f"{corpus}.json", {
        "corpus": corpus, "backend": params.backend, "model": model, "template": params.template,
        "labels": params.labels, "lexicon_or_heuristic_baseline": params.backend == "offline",
        "items": len(table), "requests": len(requests), "samples": params.samples, "answers": answers,
        "status": {k: int(v) for k, v in status.sort_index().items()},
        "label_distribution": {k: int(v) for k, v in table.loc[table["label"] != "", "label"].value_counts()
                               .sort_index().items()},
        "prompt_tokens": sum(r.fields["prompt_tokens"] for r in resolved),
        "completion_tokens": sum(r.fields["completion_tokens"] for r in resolved),
        "cost_usd": cost, "price_known": model in params.prices,
        "not_labelled": [{"item_id": r["item_id"], "status": r["status"], "error": r["error"]}
                         for r in rows if not r["label"]],
    })
    # Run-dependent counts (what this run paid, what the store answered) go to the caller's log only.
    return {**headline, "requests": stats.requests, "cache_hits": stats.cache_hits,
            "requests_sent": stats.requests_sent, "paid_usd": round(stats.cost_usd, 6), "model": model,
            "imported_from_snapshot": imported, "snapshot_problems": problems, "dry_run": False}
