"""Params of the `prompts` and `annotate` stages (the reference: docs/params.md, generated from these models)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section


class PromptsParams(Section):
    template: str = Field("melt-v1", pattern=r"^[A-Za-z0-9._-]+$", description=(
        "Prompt template file `prompts/<template>.txt`; `melt-v1` is the MELT paper's prompt verbatim. "
        "Copy it to a new name to change a prompt (every key changes)."))
    show: str = Field("Quince Street", description=(
        "The show named in the prompt: `Quince Street` is the demo sitcom; set `Friends` for MELD, as the paper."))


class Price(Section):
    input_per_1m: float = Field(ge=0, description="USD per 1M prompt (input) tokens.")
    output_per_1m: float = Field(ge=0, description="USD per 1M completion (output) tokens.")


DEFAULT_PRICES = {
    "gpt-4o-2024-08-06": Price(input_per_1m=2.50, output_per_1m=10.00),
    "gpt-4o-mini": Price(input_per_1m=0.15, output_per_1m=0.60),
}


class AnnotateParams(Section):
    backend: Literal["offline", "openai", "openai-batch", "labels-file"] = Field("offline", description=(
        "`offline`: the rule-based text heuristic `offline-heuristic-v1` (a baseline, not an LLM); `openai`: "
        "chat completions on any OpenAI-compatible server; `openai-batch`: the OpenAI Batch API; `labels-file`: "
        "import existing labels (`labels_files`)."))
    provider: str | None = Field(None, description=(
        "Provider name in every request key (answers of different providers never mix); null = `offline`, "
        "`labels-file`, or the host of `base_url` (`api.openai.com` without one). Never holds credentials."))
    base_url: str | None = Field(None, description=(
        "An OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...); null = api.openai.com. The API key comes "
        "from `OPENAI_API_KEY` only (optional for a local server)."))
    model: str = Field("gpt-4o-2024-08-06", description="Model asked by the `openai` and `openai-batch` backends.")
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
    store: str | None = Field(None, description=(
        "Folder of the answer store shared by the workspace and every `dvc exp` run; a relative path is taken "
        "from the repository root (`$DVC_ROOT` inside experiments). null = `cache/llm-store` (git-ignored, not a "
        "DVC output). Must not be inside a DVC output."))
    concurrency: int = Field(8, ge=1, description="Requests in flight at once.")
    rpm: float = Field(500, gt=0, description="Client-side limit, requests per minute.")
    tpm: float = Field(200_000, gt=0, description=(
        "Client-side limit, tokens per minute (prompt estimate + max_tokens per request)."))
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one HTTP request, seconds.")
    max_retries: int = Field(8, ge=0, description=(
        "Retries of one request after 408, 409, 429, 5xx, a timeout or a connection error (then `failed`)."))
    backoff_base_s: float = Field(0.5, gt=0, description=(
        "First backoff, seconds; attempt n waits a uniform random time up to base·2^(n-1) (full jitter)."))
    backoff_max_s: float = Field(30.0, gt=0, description=(
        "Cap of any wait, seconds: the exponential backoff and the server's `Retry-After` / `retry-after-ms`."))
    dry_run: bool = Field(False, description=(
        "Estimate tokens and cost of the requests the store cannot answer; send nothing, write empty annotations."))
    expected_completion_tokens: int = Field(120, ge=0, description="Completion tokens per request in dry-run estimates.")
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES), description=(
        "USD per 1M input/output tokens per model, for cost reports and dry runs (a model not listed costs 0)."))
    batch_discount: float = Field(0.5, ge=0, le=1, description="Price factor of the Batch API.")
    batch_poll_s: float = Field(10.0, gt=0, description="Batch API polling interval, seconds.")
    labels_files: dict[Literal["train", "dev", "test"], Path] = Field(default_factory=dict, description=(
        "Per split, a released-MELT-layout CSV (`Dialogue_ID`, `Utterance_ID`, `llm_label`) for the `labels-file` "
        "backend; a split without a file gets `failed` records with the reason."))

    @model_validator(mode="after")
    def _labels_files_needed(self):
        if self.backend == "labels-file" and not self.labels_files:
            raise ValueError("annotate.labels_files is required when annotate.backend is 'labels-file'")
        return self

    @property
    def provider_name(self) -> str:
        """What the request key calls the provider: never credentials (userinfo and port dropped)."""
        if self.provider:
            return self.provider
        if self.backend == "offline":
            return "offline"
        if self.backend == "labels-file":
            return "labels-file"
        if not self.base_url:
            return "api.openai.com"
        from urllib.parse import urlsplit
        return urlsplit(self.base_url).hostname or "openai-compatible"
