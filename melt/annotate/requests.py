"""Requests: one per (annotator, utterance, sample), rendered from a versioned template and keyed by content.

The key is a sha256 over a canonical JSON of everything that determines the answer (provider name,
model, messages, sampling params, response format, seed, sample index) and nothing secret. A text request's
key material is exactly that (keys of existing answer stores stay valid); an audio request adds its input
modality and the sha256 of the exact audio bytes sent (never the bytes: see melt.annotate.audio).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Iterator

from melt.annotate.audio_heuristic import AUDIO_HEURISTIC_ID
from melt.annotate.heuristic import HEURISTIC_ID
from melt.annotate.params import AnnotateParams, AnnotatorSettings, PromptsParams
from melt.data.labels import EMOTIONS

if TYPE_CHECKING:   # pandas and audio I/O only where prepared CSVs are read: the engine path stays small
    import pandas as pd

    from melt.annotate.audio import Clip

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


def effective_model(params) -> str:
    """The model named in the requests: the heuristic's id offline (by input), else `model`."""
    if params.backend == "offline":
        return AUDIO_HEURISTIC_ID if getattr(params, "input", "text") == "audio" else HEURISTIC_ID
    if params.backend == "labels-file":
        return "labels-file"
    return params.model


def content_text(content: str | list) -> str:
    """The text of a message's content: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


def request_key(provider: str, body: dict, sample: int, input: str = "text", audio_sha256: str | None = None) -> str:
    """Content address of a request body (the chat-completions body) plus the sample index; for audio input,
    plus the modality and the sha256 of the audio bytes sent."""
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
    if input != "text":
        material.update(input=input, audio_sha256=audio_sha256)
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


def with_seed(prompt: dict, attempt: int) -> tuple[str, dict]:
    """The re-ask `attempt` (0 = the original) of a prompt: a new sample seed, hence a new key."""
    if attempt == 0:
        return prompt["key"], prompt["body"]
    body = dict(prompt["body"])
    body["seed"] = prompt["body"]["seed"] + 1_000_003 * attempt   # far from other samples' seeds
    return request_key(prompt["provider"], body, prompt["sample"], **audio_key(prompt)), body


def audio_key(prompt: dict) -> dict:
    """The audio part of a prompt's key material: nothing for a text request."""
    if prompt.get("input", "text") == "text":
        return {}
    return {"input": prompt["input"], "audio_sha256": (prompt.get("audio") or {}).get("sha256")}


def load_template(name: str, prompts_dir: Path = Path("prompts"), param: str = "prompt") -> Template:
    path = prompts_dir / f"{name}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in prompts_dir.glob("*.txt"))
        raise FileNotFoundError(f"prompt template {path} not found ({param}); available: {available}")
    return Template(path.read_text(encoding="utf-8").rstrip("\n"))


def render(template: Template, show: str, row: dict) -> str:
    return template.substitute(show=show, speaker=str(row["Speaker"]).title(), season=int(row["Season"]),
                               episode=int(row["Episode"]), utterance=str(row["Utterance"]).strip())


def sample_requests(base: dict, messages: list[dict], params, model: str, audio: dict | None = None) -> Iterator[dict]:
    """The `params.samples` requests of one prompt (annotate's and pseudolabel's): `base` (the row's fields) +
    sample, body, provider and key; `audio` (melt.annotate.audio.audio_record) for an audio request."""
    provider = params.provider_name
    fmt = response_format_body(params.response_format)
    for sample in range(params.samples):
        body = {"model": model, "messages": messages, "temperature": params.temperature, "top_p": params.top_p,
                "max_tokens": params.max_tokens, "seed": params.seed + sample}
        if fmt is not None:
            body["response_format"] = fmt
        rec = {**base, "sample": sample, "provider": provider, "body": body}
        if audio is not None:
            rec.update(input=params.input, audio=audio)
        rec["key"] = request_key(provider, body, sample, **audio_key(rec))
        yield rec


class ClipCache:
    """Each clip encoded once per stage run, whichever audio annotators share its settings."""

    def __init__(self):
        self._done: dict[tuple, Clip | str] = {}

    def get(self, path: str, settings: AnnotatorSettings) -> "Clip":
        from melt.annotate.audio import ClipExcluded, encode_clip

        key = (path, settings.audio_format, settings.max_audio_s, settings.too_long)
        if key not in self._done:
            try:
                self._done[key] = encode_clip(path, settings.audio_format, settings.max_audio_s, settings.too_long)
            except ClipExcluded as err:
                self._done[key] = str(err)
        found = self._done[key]
        if isinstance(found, str):
            raise ClipExcluded(found)
        return found


def build_requests(prepared: "pd.DataFrame", split: str, template: Template, prompts: PromptsParams,
                   settings: AnnotatorSettings, clips: ClipCache | None = None) -> Iterator[dict]:
    """One annotator's requests for one split. An audio annotator's row whose clip cannot be sent gets one
    record per sample with `excluded` (the reason) and no body: it is recorded, never sent."""
    from melt.annotate.audio import ClipExcluded, audio_record, placeholder_part

    model = effective_model(settings)
    clips = clips or ClipCache()
    for row in prepared.to_dict("records"):
        base = {"split": split, "dialogue_id": int(row["dialogue_id"]), "utterance_id": int(row["utterance_id"]),
                "speaker": row["Speaker"], "utterance": row["Utterance"]}
        text = render(template, prompts.show, row)
        if not settings.hears_audio:
            yield from sample_requests(base, [{"role": "user", "content": text}], settings, model)
            continue
        path = str(row.get("audio_path") or "")
        try:
            clip = clips.get(path, settings)
        except ClipExcluded as err:
            for sample in range(settings.samples):
                yield {**base, "sample": sample, "provider": settings.provider_name, "input": settings.input,
                       "key": None, "body": None, "audio": {"path": path}, "excluded": str(err)}
            continue
        content = [{"type": "text", "text": text}, placeholder_part(settings.audio_format, clip.sha256)]
        yield from sample_requests(base, [{"role": "user", "content": content}], settings, model,
                                   audio=audio_record(path, clip, settings))


REQUIRED_PREPARED = {"dialogue_id", "utterance_id", "Speaker", "Utterance", "Season", "Episode"}


def write_annotator_prompts(prepared_dir: Path, out_dir: Path, prompts: PromptsParams, settings: AnnotatorSettings,
                            splits=("train", "dev", "test"), templates_dir: Path = Path("prompts"),
                            clips: ClipCache | None = None, progress: bool = False) -> dict[str, int]:
    """data/prepared/{split}.csv → out_dir/{split}.jsonl for one annotator; returns requests per split."""
    import pandas as pd
    from tqdm import tqdm

    from melt.io import write_text

    template = load_template(settings.prompt_name, templates_dir, f"annotate.annotators.{settings.name}.prompt")
    clips = clips or ClipCache()
    counts = {}
    for split in splits:
        src = prepared_dir / f"{split}.csv"
        if not src.is_file():
            raise FileNotFoundError(f"{src}: prepared split missing (run the prepare stage)")
        df = pd.read_csv(src, keep_default_na=False)
        missing = REQUIRED_PREPARED - set(df.columns)
        if missing:
            raise ValueError(f"{src}: missing column(s) {sorted(missing)}")
        records = build_requests(df, split, template, prompts, settings, clips)
        if settings.hears_audio:   # reading and encoding every clip takes a while on a real corpus
            records = tqdm(records, total=len(df) * settings.samples, desc=f"{settings.name} {split}",
                           unit="request", disable=not progress, mininterval=0.5)
        lines = [canonical_json(r) for r in records]
        write_text(out_dir / f"{split}.jsonl", "".join(line + "\n" for line in lines))
        counts[split] = len(lines)
    return counts


def panel_manifest(annotate: AnnotateParams, templates_dir: Path = Path("prompts")) -> dict:
    """What the panel is, in panel order: per annotator what shapes its answers (backend, model, input, prompt and
    its sha256, sampling, re-asks, audio handling; `base_url` without credentials, labels files by name). Written
    beside the requests and the annotations; `derive`, `analyze` and `publish` read it, never the params."""
    from urllib.parse import urlsplit, urlunsplit

    from melt.io import sha256_file

    def public(url: str | None) -> str | None:
        if not url:
            return url
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=host))

    out = {}
    for s in annotate.panel():
        out[s.name] = {
            "backend": s.backend, "model": effective_model(s), "input": s.input, "prompt": s.prompt_name,
            "prompt_sha256": sha256_file(templates_dir / f"{s.prompt_name}.txt"), "provider": s.provider_name,
            "base_url": public(s.base_url), "temperature": s.temperature, "top_p": s.top_p,
            "max_tokens": s.max_tokens, "response_format": s.response_format, "seed": s.seed, "samples": s.samples,
            "max_invalid_retries": s.max_invalid_retries,
            "labels_files": {split: Path(p).name for split, p in sorted(s.labels_files.items())},
            **({"audio_format": s.audio_format, "max_audio_s": s.max_audio_s, "too_long": s.too_long}
               if s.hears_audio else {})}
    return {"annotators": out}


def write_prompts(prepared_dir: Path, out_dir: Path, prompts: PromptsParams, annotate: AnnotateParams,
                  splits=("train", "dev", "test"), templates_dir: Path = Path("prompts"),
                  progress: bool = False) -> dict[str, dict[str, int]]:
    """data/prepared → data/prompts/<annotator>/{split}.jsonl for every annotator of the panel, and
    data/prompts/panel.json; returns requests per annotator and split."""
    import shutil

    from melt.io import write_json

    clips = ClipCache()
    counts = {s.name: write_annotator_prompts(prepared_dir, out_dir / s.name, prompts, s, splits, templates_dir,
                                              clips, progress) for s in annotate.panel()}
    write_json(out_dir / "panel.json", panel_manifest(annotate, templates_dir))
    for entry in out_dir.iterdir():   # an annotator removed from the panel leaves no requests behind
        if entry.is_dir() and entry.name not in counts:
            shutil.rmtree(entry)
        elif entry.is_file() and entry.name != "panel.json":
            entry.unlink()
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
