"""Requests: one per (utterance, sample), rendered from a versioned template and keyed by content.

The key is a sha256 over a canonical JSON of everything that determines the answer (provider name,
model, messages, sampling params, response format, seed, sample index) and nothing secret.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Iterator

from melt.annotate.heuristic import HEURISTIC_ID
from melt.annotate.params import AnnotateParams, PromptsParams
from melt.data.labels import EMOTIONS

if TYPE_CHECKING:   # pandas only where prepared CSVs are read: the engine path stays small
    import pandas as pd

LABEL_CHOICES = [e.capitalize() for e in EMOTIONS]

# For response_format json_schema: the paper's JSON structure, emotion restricted to the 7 labels.
ANSWER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["character", "context", "elements"],
    "properties": {
        "character": {"type": "string"},
        "context": {"type": "string"},
        "elements": {
            "type": "object",
            "additionalProperties": False,
            "required": ["emotion", "loudness", "pitch", "rhythm_speed", "emotional_impact"],
            "properties": {
                "emotion": {"type": "string", "enum": LABEL_CHOICES},
                "loudness": {"type": "string"},
                "pitch": {"type": "string"},
                "rhythm_speed": {"type": "string"},
                "emotional_impact": {"type": "string"},
            },
        },
    },
}


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def response_format_body(kind: str) -> dict | None:
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "melt_annotation", "strict": True, "schema": ANSWER_SCHEMA}}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def effective_model(params: AnnotateParams) -> str:
    if params.backend == "offline":
        return HEURISTIC_ID
    if params.backend == "labels-file":
        return "labels-file"
    return params.model


def request_key(provider: str, body: dict, sample: int) -> str:
    """Content address of a request body (the chat-completions body) plus the sample index."""
    material = {
        "provider": provider,
        "model": body["model"],
        "messages": body["messages"],
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_tokens": body.get("max_tokens"),
        "response_format": body.get("response_format"),
        "seed": body.get("seed"),
        "sample": sample,
    }
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


def with_seed(prompt: dict, attempt: int) -> tuple[str, dict]:
    """The re-ask `attempt` (0 = the original) of a prompt: a new sample seed, hence a new key."""
    if attempt == 0:
        return prompt["key"], prompt["body"]
    body = dict(prompt["body"])
    body["seed"] = prompt["body"]["seed"] + 1_000_003 * attempt   # far from other samples' seeds
    return request_key(prompt["provider"], body, prompt["sample"]), body


def load_template(name: str, prompts_dir: Path = Path("prompts")) -> Template:
    path = prompts_dir / f"{name}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in prompts_dir.glob("*.txt"))
        raise FileNotFoundError(f"prompt template {path} not found (prompts.template); available: {available}")
    return Template(path.read_text(encoding="utf-8").rstrip("\n"))


def render(template: Template, show: str, row: dict) -> str:
    return template.substitute(show=show, speaker=str(row["Speaker"]).title(), season=int(row["Season"]),
                               episode=int(row["Episode"]), utterance=str(row["Utterance"]).strip())


def build_requests(prepared: "pd.DataFrame", split: str, template: Template, prompts: PromptsParams,
                   annotate: AnnotateParams) -> Iterator[dict]:
    provider, model = annotate.provider_name, effective_model(annotate)
    fmt = response_format_body(annotate.response_format)
    for row in prepared.to_dict("records"):
        messages = [{"role": "user", "content": render(template, prompts.show, row)}]
        for sample in range(annotate.samples):
            body = {"model": model, "messages": messages, "temperature": annotate.temperature,
                    "top_p": annotate.top_p, "max_tokens": annotate.max_tokens, "seed": annotate.seed + sample}
            if fmt is not None:
                body["response_format"] = fmt
            yield {"split": split, "dialogue_id": int(row["dialogue_id"]), "utterance_id": int(row["utterance_id"]),
                   "sample": sample, "key": request_key(provider, body, sample), "provider": provider,
                   "speaker": row["Speaker"], "utterance": row["Utterance"], "body": body}


def write_prompts(prepared_dir: Path, out_dir: Path, prompts: PromptsParams, annotate: AnnotateParams,
                  splits=("train", "dev", "test"), templates_dir: Path = Path("prompts")) -> dict[str, int]:
    """data/prepared/{split}.csv → data/prompts/{split}.jsonl; returns requests per split."""
    import pandas as pd

    from melt.io import write_text

    template = load_template(prompts.template, templates_dir)
    counts = {}
    for split in splits:
        src = prepared_dir / f"{split}.csv"
        if not src.is_file():
            raise FileNotFoundError(f"{src}: prepared split missing (run the prepare stage)")
        df = pd.read_csv(src, keep_default_na=False)
        missing = {"dialogue_id", "utterance_id", "Speaker", "Utterance", "Season", "Episode"} - set(df.columns)
        if missing:
            raise ValueError(f"{src}: missing column(s) {sorted(missing)}")
        lines = [canonical_json(r) for r in build_requests(df, split, template, prompts, annotate)]
        write_text(out_dir / f"{split}.jsonl", "".join(line + "\n" for line in lines))
        counts[split] = len(lines)
    return counts


def iter_prompts(prompts_dir: Path, splits=("train", "dev", "test")) -> Iterator[dict]:
    """Stream request records, split by split, line by line (memory flat in the number of prompts)."""
    for split in splits:
        path = prompts_dir / f"{split}.jsonl"
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}: line {n} is not JSON: {err}") from None
