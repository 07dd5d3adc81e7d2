"""Helpers of the annotate tests: tiny prepared splits → request files, params for the loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.annotate.params import AnnotateParams, PromptsParams
from melt.annotate.requests import write_prompts

TEMPLATES = Path(__file__).resolve().parents[1] / "prompts"

LINES = ["I can't believe you did that!!", "Oh my god, that's wonderful!", "I miss her so much...",
         "Ew, that is gross.", "What? Really?!", "I'm so scared, help me", "Pass the salt please.",
         "We should go to the park later today.", "Stop it, I hate this!", "Thank you so much, this is great"]


def prepared_rows(n: int, texts: list[str] | None = None) -> pd.DataFrame:
    texts = texts or LINES
    return pd.DataFrame([{"split": "train", "dialogue_id": i // 3, "utterance_id": i % 3, "Speaker": "ana",
                          "Utterance": f"{texts[i % len(texts)]} (line {i})", "Season": 1, "Episode": 2}
                         for i in range(n)])


def make_prompts(root: Path, n: int, params: AnnotateParams, texts: list[str] | None = None,
                 prompts: PromptsParams | None = None) -> Path:
    """root/prepared/{train,dev,test}.csv (all rows in train) → root/prompts/*.jsonl."""
    prepared = root / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    prepared_rows(n, texts).to_csv(prepared / "train.csv", index=False)
    for split in ("dev", "test"):
        prepared_rows(0).reindex(columns=prepared_rows(1).columns).to_csv(prepared / f"{split}.csv", index=False)
    write_prompts(prepared, root / "prompts", prompts or PromptsParams(), params, templates_dir=TEMPLATES)
    return root / "prompts"


def server_params(server, **kw) -> AnnotateParams:
    base = dict(backend="openai", base_url=server.base_url, model="gpt-4o-2024-08-06", concurrency=4, rpm=60_000,
                tpm=10_000_000, timeout_s=5, max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05)
    base.update(kw)
    return AnnotateParams(**base)


def read_annotations(out_dir: Path, split: str = "train") -> list[dict]:
    return [json.loads(line) for line in (out_dir / f"{split}.jsonl").read_text().splitlines()]
