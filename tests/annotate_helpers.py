"""Helpers of the annotate tests: tiny prepared splits → request files, params for the loopback server, a run.

The engine's unit is one annotator: `server_params` gives an annotator's settings (`AnnotatorSettings`: its
backend, model, limits... with the run-wide knobs such as `dry_run` and `prices`), and `make_prompts` /
`run_annotate` write one annotator's requests and annotations (root/prompts, root/out). An `AnnotateParams`
(a panel) passed to them stands for its first annotator: `AnnotateParams()` is the offline text heuristic."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from melt.annotate.params import AnnotateParams, AnnotatorSettings, PromptsParams
from melt.annotate.requests import write_annotator_prompts
from melt.annotate.run import annotate_single

TEMPLATES = Path(__file__).resolve().parents[1] / "prompts"

LINES = ["I can't believe you did that!!", "Oh my god, that's wonderful!", "I miss her so much...",
         "Ew, that is gross.", "What? Really?!", "I'm so scared, help me", "Pass the salt please.",
         "We should go to the park later today.", "Stop it, I hate this!", "Thank you so much, this is great"]


def prepared_rows(n: int, texts: list[str] | None = None) -> pd.DataFrame:
    texts = texts or LINES
    return pd.DataFrame([{"split": "train", "dialogue_id": i // 3, "utterance_id": i % 3, "Speaker": "ana",
                          "Utterance": f"{texts[i % len(texts)]} (line {i})", "Season": 1, "Episode": 2}
                         for i in range(n)])


def annotator(params: AnnotateParams | AnnotatorSettings) -> AnnotatorSettings:
    """One annotator's settings: a panel stands for its first annotator."""
    return params.settings(next(iter(params.annotators))) if isinstance(params, AnnotateParams) else params


def write_prepared(root: Path, n: int, texts: list[str] | None = None) -> Path:
    """root/prepared/{train,dev,test}.csv, all rows in train."""
    prepared = root / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    prepared_rows(n, texts).to_csv(prepared / "train.csv", index=False)
    for split in ("dev", "test"):
        prepared_rows(0).reindex(columns=prepared_rows(1).columns).to_csv(prepared / f"{split}.csv", index=False)
    return prepared


def make_prompts(root: Path, n: int, params: AnnotateParams | AnnotatorSettings, texts: list[str] | None = None,
                 prompts: PromptsParams | None = None) -> Path:
    """root/prepared/{train,dev,test}.csv (all rows in train) → root/prompts/*.jsonl (one annotator)."""
    prepared = write_prepared(root, n, texts)
    write_annotator_prompts(prepared, root / "prompts", prompts or PromptsParams(), annotator(params),
                            templates_dir=TEMPLATES)
    return root / "prompts"


def server_params(server, **kw) -> AnnotatorSettings:
    """An annotator of the loopback server (fast limits, short backoffs); `kw` overrides any setting."""
    base = dict(backend="openai", base_url=server.base_url, model="gpt-4o-2024-08-06", concurrency=4, rpm=60_000,
                tpm=10_000_000, timeout_s=5, max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05)
    base.update(kw)
    return AnnotatorSettings(**base)


def read_annotations(out_dir: Path, split: str = "train") -> list[dict]:
    return [json.loads(line) for line in (out_dir / f"{split}.jsonl").read_text().splitlines()]


def run_annotate(root: Path, params: AnnotateParams | AnnotatorSettings, n: int | None = None,
                 texts: list[str] | None = None, store: Path | None = None) -> dict:
    """One annotator through the stage's engine on root/prompts (written first when `n` is given) with the store
    root/store. Outputs: root/out (annotations), root/snapshot, root/report.json, root/metrics.json."""
    settings = annotator(params)
    if n is not None:
        make_prompts(root, n, settings, texts)
    settings = settings.model_copy(update={"store": str(store or root / "store")})
    return annotate_single(settings, root / "prompts", root / "out", root / "snapshot", root / "report.json",
                           root / "metrics.json", progress=False)


def tiny_meld(root: Path) -> Path:
    """MELD-format CSVs: train 10, dev 2, test 3 rows (dialogue i, utterance 0), two speakers."""
    from conftest import meld_row, write_meld_csv
    lines = ["I can't believe it, this is amazing!", "Please pass me the salt now.", "I am so sorry about that.",
             "Why would you do that to me?", "That smells really gross today."]
    for split, n in SPLIT_SIZES.items():
        rows = [meld_row(i + 1, f"{lines[i % 5]} ({split} {i})", "Ana" if i % 2 else "Ben", i, 0, 10.0 + 3 * i,
                         12.0 + 3 * i) for i in range(n)]
        write_meld_csv(root / f"{split}_sent_emo.csv", rows)
    return root


SPLIT_SIZES = {"train": 10, "dev": 2, "test": 3}


def set_params(repo: Path, **sections) -> None:
    """Update sections of repo/params.yaml (nested keys as dicts)."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        params.setdefault(section, {}).update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def tiny_meld_params(meld: Path) -> dict:
    """params.yaml sections that run the pipeline on `tiny_meld` (every row kept)."""
    return {"data": {"source": "meld", "meld_dir": str(meld)}, "prepare": {"min_speaker_utterances": 1}}


def one_annotator(name: str = "llm", **settings) -> dict:
    """params.yaml's `annotate` section with a panel of one annotator (`settings` over AnnotatorParams' defaults)."""
    from melt.annotate.params import AnnotatorParams
    return {"annotators": {name: AnnotatorParams(**settings).model_dump(mode="json")}}
