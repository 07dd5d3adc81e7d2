"""Params of the `prompts` and `annotate` stages (the reference: docs/params.md, generated from these models).

`annotate.annotators` is the panel: a mapping name → one annotator's settings (`AnnotatorParams`). The
engine and the backends receive one annotator's settings joined with the run-wide knobs of the section
(`AnnotateParams.settings(name)` → `AnnotatorSettings`), with the attribute names a single-annotator
AnnotateParams had (backend, model, concurrency, prices, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.annotate.limits import EngineLimits, StoreDurability
from melt.params_base import Section

INPUTS = ("text", "audio", "text+audio")
# The versioned template of each input modality (prompts/<name>.txt), used when an annotator names none.
DEFAULT_PROMPTS = {"text": "melt-v1", "audio": "melt-audio-v1", "text+audio": "melt-text-audio-v1"}
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_]*$"   # becomes a column name (`label_<name>`) and a folder name


class PromptsParams(Section):
    show: str = Field("Quince Street", description=(
        "The show named in the prompt: `Quince Street` is the demo sitcom; set `Friends` for MELD, as the paper."))


class Price(Section):
    input_per_1m: float = Field(ge=0, description="USD per 1M prompt (input) tokens.")
    output_per_1m: float = Field(ge=0, description="USD per 1M completion (output) tokens.")


DEFAULT_PRICES = {
    "gpt-4o-2024-08-06": Price(input_per_1m=2.50, output_per_1m=10.00),
    "gpt-4o-mini": Price(input_per_1m=0.15, output_per_1m=0.60),
}


class LLMParams(Section):
    """What any stream of LLM requests needs (annotate's annotators, pseudolabel): backend, model, sampling."""

    backend: Literal["offline", "openai", "openai-batch", "labels-file"] = Field("openai", description=(
        "`offline`: a rule-based heuristic (not an LLM): `offline-heuristic-v1` reads the text (input `text`), "
        "`offline-audio-arousal-v1` measures loudness and pitch of the clip (input `audio`); `openai`: chat "
        "completions on any OpenAI-compatible server; `openai-batch`: the OpenAI Batch API (text only); "
        "`labels-file`: import existing labels (`labels_files`)."))
    provider: str | None = Field(None, description=(
        "Provider name in every request key (answers of different providers never mix); null = `offline`, "
        "`labels-file`, or the host of `base_url` (`api.openai.com` without one; `openai-compatible` with only "
        "`endpoints`, which are never part of a key). Never holds credentials."))
    base_url: str | None = Field(None, description=(
        "An OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...); null = api.openai.com."))
    model: str = Field("gpt-4o-2024-08-06", description="Model asked by the `openai` and `openai-batch` backends.")
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description=(
        "The environment variable holding the API key (read from the environment only, never stored; optional "
        "for a local `base_url`)."))
    temperature: float = Field(1.0, ge=0, le=2, description="Sampling temperature (the paper: 1.0).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(400, ge=1, description="Completion token limit per request.")
    response_format: Literal["json_schema", "json_object", "none"] = Field("json_object", description=(
        "`json_schema`: strict schema with the 7 emotions as an enum; `json_object`: any JSON (llama.cpp accepts "
        "only this); `none`: no response_format sent."))
    seed: int = Field(0, description="Request seed; sample s of a prompt is asked with seed + s.")
    samples: int = Field(1, ge=1, description="Independent answers per utterance (self-consistency; derive votes).")
    max_invalid_retries: int = Field(2, ge=0, description=(
        "Re-asks (each with a new seed, hence a new key) after an answer that is not the JSON structure or has an "
        "out-of-set emotion; then the request is recorded `invalid` with its raw text."))

    @property
    def provider_name(self) -> str:
        """What the request key calls the provider: never credentials (userinfo and port dropped)."""
        if self.provider:
            return self.provider
        if self.backend == "offline":
            return "offline"
        if self.backend == "labels-file":
            return "labels-file"
        if not self.base_url:   # several endpoints of one model share answers: no endpoint in the key
            return "openai-compatible" if getattr(self, "endpoints", None) else "api.openai.com"
        from urllib.parse import urlsplit
        return urlsplit(self.base_url).hostname or "openai-compatible"


class RunKnobs(Section):
    """Knobs of a whole annotation run (not of one annotator): dry run, cost accounting, Batch API polling."""

    dry_run: bool = Field(False, description=(
        "Estimate tokens and cost of the requests the store cannot answer; send nothing, write empty annotations."))
    expected_completion_tokens: int = Field(120, ge=0, description="Completion tokens per request in dry-run estimates.")
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES), description=(
        "USD per 1M input/output text tokens per model, for cost reports and dry runs (a model not listed costs 0)."))
    batch_discount: float = Field(0.5, ge=0, le=1, description="Price factor of the Batch API.")
    batch_poll_s: float = Field(10.0, gt=0, description="Batch API polling interval, seconds.")


class Modality(Section):
    """What an annotator receives and which template renders it."""

    input: Literal["text", "audio", "text+audio"] = Field("text", description=(
        "What the annotator receives: `text` (the transcript line, the MELT paper's setting), `audio` (the clip "
        "alone) or `text+audio` (both): audio goes as an `input_audio` content part, 16 kHz mono 16-bit WAV "
        "(or MP3, `audio_format`)."))
    prompt: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$", description=(
        "Prompt template `prompts/<prompt>.txt`; null = by `input`: `melt-v1` (the MELT paper's prompt verbatim), "
        "`melt-audio-v1`, `melt-text-audio-v1`. Copy a template to a new name to change it (every key changes)."))


class AnnotatorParams(EngineLimits, LLMParams, Modality):
    """One annotator of the panel, `annotate.annotators.<name>`: input and prompt, backend and sampling, limits,
    audio handling. (Fields are listed base by base: Modality, LLMParams, EngineLimits, then these.)"""

    audio_format: Literal["wav", "mp3"] = Field("wav", description=(
        "Encoding of the audio sent: 16 kHz mono 16-bit `wav`, or `mp3` (encoded by ffmpeg, imageio-ffmpeg's "
        "binary) for servers that want it."))
    max_audio_s: float = Field(30.0, gt=0, description=(
        "Longest clip sent, seconds (Qwen2-Audio and Ultravox stop at 30 s); a longer one is handled as "
        "`too_long` says."))
    too_long: Literal["exclude", "trim"] = Field("exclude", description=(
        "A clip longer than `max_audio_s`: `exclude` (recorded with its reason; the text annotators still label "
        "the row) or `trim` (its first `max_audio_s` seconds are sent, recorded as trimmed)."))
    audio_tokens_per_s: float = Field(10.0, ge=0, description=(
        "Audio input tokens per second of audio, for dry-run estimates and costs (OpenAI's GPT-4o audio models: "
        "about one token per 100 ms; Qwen2-Audio's encoder: 25 per second)."))
    audio_price_per_1m: float = Field(40.0, ge=0, description=(
        "USD per 1M audio input tokens (gpt-4o-audio-preview: 40; gpt-4o-mini-audio-preview: 10); 0 for a "
        "local server. Applies to `openai` annotators with audio input."))
    labels_files: dict[Literal["train", "dev", "test"], Path] = Field(default_factory=dict, description=(
        "Per split, a released-MELT-layout CSV (`Dialogue_ID`, `Utterance_ID`, `llm_label`) for the `labels-file` "
        "backend; a split without a file gets `failed` records with the reason."))

    @model_validator(mode="after")
    def _consistent(self):
        if self.backend == "labels-file" and not self.labels_files:
            raise ValueError("labels_files is required when backend is 'labels-file'")
        if self.backend == "labels-file" and self.input != "text":
            raise ValueError("a labels-file annotator imports labels: its input is 'text'")
        if self.backend == "openai-batch" and self.input != "text":
            raise ValueError("the openai-batch backend takes text input only (the Batch input file would hold "
                             "the audio); use backend 'openai' for audio")
        if self.endpoints and self.backend != "openai":
            raise ValueError("endpoints are servers of the `openai` backend")
        if self.backend == "offline" and self.input == "text+audio":
            raise ValueError("the offline backend has a text heuristic (input 'text') and an audio heuristic "
                             "(input 'audio'), none for 'text+audio': use an LLM backend")
        return self

    @property
    def prompt_name(self) -> str:
        return self.prompt or DEFAULT_PROMPTS[self.input]

    @property
    def hears_audio(self) -> bool:
        return self.input != "text"


class AnnotatorSettings(AnnotatorParams, RunKnobs):
    """One annotator with the run-wide knobs: what the engine, the backends and the dry run receive."""

    name: str = Field("annotator", pattern=NAME_PATTERN, description="The annotator's name in the panel.")
    store: str | None = Field(None, description="The answer store folder (`annotate.store`).")
    durability: StoreDurability = Field(default_factory=StoreDurability, description=(
        "The answer store's group commit (`annotate.durability`)."))


DEFAULT_ANNOTATORS = {
    "text_heuristic": AnnotatorParams(backend="offline", input="text", prompt="melt-v1"),
    "audio_heuristic": AnnotatorParams(backend="offline", input="audio", prompt="melt-audio-v1"),
}


class Panel(Section):
    annotators: dict[str, AnnotatorParams] = Field(default_factory=lambda: dict(DEFAULT_ANNOTATORS), description=(
        "The panel: annotator name → its settings (the keys below `annotate.annotators.<name>.`). Each answers "
        "every utterance into the one answer store; `derive` aggregates them (`aggregate`). The demo panel is "
        "offline: `text_heuristic` (rules over the transcript) and `audio_heuristic` (rules over loudness and "
        "pitch of the clip), baselines, not LLMs. Add one with `dvc exp run -S "
        "'+annotate.annotators.qwen={backend: openai, base_url: ..., model: ..., input: audio}'`."))
    aggregate: Literal["dawid_skene", "majority"] = Field("dawid_skene", description=(
        "How `derive` turns the annotators' labels into `llm_label`: `dawid_skene` (EM over a confusion matrix "
        "per annotator, crowd-kit; `llm_confidence` = the posterior of the label) or `majority` (most annotators; "
        "`llm_confidence` = their share). A one-annotator panel is that annotator's own vote over its samples."))


class AnnotateParams(RunKnobs, Panel):
    """The `annotate` section: the panel, then the run-wide knobs (listed in that order)."""

    store: str | None = Field(None, description=(
        "Folder of the answer store shared by the workspace, every annotator and every `dvc exp` run; a relative "
        "path is taken from the repository root (`$DVC_ROOT` inside experiments). null = `cache/llm-store` "
        "(git-ignored, not a DVC output). Must not be inside a DVC output."))
    durability: StoreDurability = Field(default_factory=StoreDurability, description=(
        "Group commit of the answer store: an answer is reported stored only once an fsync covers it."))

    @model_validator(mode="after")
    def _panel(self):
        import re

        if not self.annotators:
            raise ValueError("annotators: the panel needs at least one annotator")
        bad = [name for name in self.annotators if not re.match(NAME_PATTERN, name)]
        if bad:
            raise ValueError(f"annotators: names must be letters, digits and '_' (a column label_<name>): {bad}")
        return self

    def settings(self, name: str) -> AnnotatorSettings:
        """Annotator `name` joined with the run-wide knobs, as the engine receives it."""
        run = {k: getattr(self, k) for k in RunKnobs.model_fields}
        return AnnotatorSettings(**dict(self.annotators[name]), **run, name=name, store=self.store,
                                 durability=self.durability)

    def panel(self) -> list[AnnotatorSettings]:
        return [self.settings(name) for name in self.annotators]
