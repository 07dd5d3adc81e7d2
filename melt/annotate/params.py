"""Params of the `prompts` and `annotate` stages."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section


class PromptsParams(Section):
    # Template file prompts/<template>.txt; melt-v1 is the paper's prompt verbatim.
    template: str = Field("melt-v1", pattern=r"^[A-Za-z0-9._-]+$")
    # The show named in the prompt (the paper: Friends; the demo corpus is not Friends).
    show: str = "Friends"


class Price(Section):
    input_per_1m: float = Field(ge=0)    # USD per 1M prompt tokens
    output_per_1m: float = Field(ge=0)   # USD per 1M completion tokens


DEFAULT_PRICES = {
    "gpt-4o-2024-08-06": Price(input_per_1m=2.50, output_per_1m=10.00),
    "gpt-4o-mini": Price(input_per_1m=0.15, output_per_1m=0.60),
}


class AnnotateParams(Section):
    backend: Literal["offline", "openai", "openai-batch", "labels-file"] = "offline"
    # Cache namespace of the answers; null = derived (offline, or base_url's host, or api.openai.com).
    provider: str | None = None
    base_url: str | None = None          # null = api.openai.com; any OpenAI-compatible server
    model: str = "gpt-4o-2024-08-06"
    temperature: float = Field(1.0, ge=0, le=2)   # the paper's setting
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(400, ge=1)
    response_format: Literal["json_schema", "json_object", "none"] = "json_object"
    seed: int = 0                        # sample s of a prompt is asked with seed + s
    samples: int = Field(1, ge=1)        # k independent answers per utterance (self-consistency)
    max_invalid_retries: int = Field(2, ge=0)   # re-asks (new seed) after an answer that does not validate
    concurrency: int = Field(8, ge=1)
    rpm: float = Field(500, gt=0)        # requests per minute
    tpm: float = Field(200_000, gt=0)    # tokens per minute (prompt estimate + max_tokens per request)
    timeout_s: float = Field(60.0, gt=0)  # per request
    max_retries: int = Field(8, ge=0)    # per request, on 429 / 5xx / timeout / connection error
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    dry_run: bool = False                # estimate tokens and cost of the uncached requests; call nothing
    expected_completion_tokens: int = Field(120, ge=0)   # for dry_run estimates
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    batch_discount: float = Field(0.5, ge=0, le=1)   # Batch API price factor
    batch_poll_s: float = Field(10.0, gt=0)
    labels_files: dict[Literal["train", "dev", "test"], Path] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _labels_files_needed(self):
        if self.backend == "labels-file" and not self.labels_files:
            raise ValueError("annotate.labels_files is required when annotate.backend is 'labels-file'")
        return self

    @property
    def provider_name(self) -> str:
        """What the cache key calls the provider: never credentials (userinfo and port dropped)."""
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
