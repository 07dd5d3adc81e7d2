"""The engine's limits (per annotator, and pseudolabel's) and the answer store's durability (per run).

Pacing (`rpm`/`tpm`, AIMD), tail latency (`deadline_s`, hedging), endpoints and their circuit breaker:
what each knob does is in docs/annotate.md ("Throughput, limits, retries").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from melt.params_base import Section

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Endpoint(Section):
    """One server of an annotator's model: requests go to the least-loaded healthy one."""

    base_url: str = Field(description="An OpenAI-compatible server (`.../v1`).")
    api_key_env: str = Field("OPENAI_API_KEY", pattern=ENV_NAME, description=(
        "The environment variable holding this endpoint's key (optional for a local server)."))
    weight: float = Field(1.0, gt=0, description=(
        "Relative capacity: load is in-flight requests / weight; `rpm`/`tpm` apply per endpoint × weight."))


class EngineLimits(Section):
    """How fast one annotator's requests go out, how slow tails and failing servers are handled."""

    concurrency: int = Field(8, ge=1, description=(
        "Requests in flight at once per endpoint (× its weight; hedge copies not counted)."))
    rpm: float | Literal["auto"] = Field(500.0, description=(
        "Client-side limit, requests per minute per endpoint; `auto`: the provider's `x-ratelimit-limit-requests` "
        "header (one request first, then its figure; no limit of ours if the header never comes)."))
    tpm: float | Literal["auto"] = Field(200_000.0, description=(
        "Client-side limit, tokens per minute per endpoint (prompt estimate + max_tokens per request); `auto`: "
        "the provider's `x-ratelimit-limit-tokens` header."))
    timeout_s: float = Field(60.0, gt=0, description="httpx's timeout of each phase (connect, read...), seconds.")
    deadline_s: float = Field(120.0, gt=0, description=(
        "Overall deadline of one attempt, seconds (a body that trickles in resets httpx's read timeout, not this)."))
    max_retries: int = Field(8, ge=0, description=(
        "Retries of one request after 408, 409, 5xx, a timeout or a connection error (then `failed`); 429s are "
        "pacing, not failure: up to 4 × max_retries + 4 of them."))
    backoff_base_s: float = Field(0.5, gt=0, description=(
        "First backoff, seconds; attempt n waits a uniform random time up to base·2^(n-1) (full jitter)."))
    backoff_max_s: float = Field(30.0, gt=0, description=(
        "Cap of any wait, seconds: the exponential backoff and the server's `Retry-After` / `retry-after-ms` "
        "(a 429's wait is jittered up to +20 %)."))
    aimd_step: float = Field(0.05, gt=0, le=1, description=(
        "Additive increase: share of the limit the request rate (and in-flight limit) regains per second "
        "after a decrease."))
    aimd_factor: float = Field(0.7, gt=0, lt=1, description=(
        "Multiplicative decrease: rate and in-flight limit × this when the budget is spent."))
    aimd_429_share: float = Field(0.2, gt=0, le=1, description=(
        "The budget counts as spent when more than this share of the last `aimd_window` responses were 429 "
        "(or when the `x-ratelimit-remaining-*` headers reach 0); below it a 429 delays only its own request."))
    aimd_window: int = Field(50, ge=5, description="Responses the 429 share is measured over.")
    hedge_percentile: float = Field(95, gt=0, lt=100, description=(
        "Hedging: a request outstanding longer than this percentile of recent latencies × `hedge_multiplier` "
        "gets one duplicate (same body, same key); the first valid answer wins, the other is cancelled."))
    hedge_multiplier: float = Field(1.5, ge=1, description="Factor on the percentile (see `hedge_percentile`).")
    hedge_floor_s: float = Field(1.0, ge=0, description="Never hedge a request younger than this, seconds.")
    hedge_max_share: float = Field(0.05, ge=0, le=1, description=(
        "Hedges at most this share of the requests sent (0 = no hedging); each is counted (`hedges`)."))
    breaker_failures: int = Field(5, ge=1, description=(
        "Circuit breaker: consecutive failures (5xx, timeouts, connection errors) that cool an endpoint down."))
    breaker_cooldown_s: float = Field(10.0, gt=0, description=(
        "Seconds a cooled-down endpoint gets no requests; then one probe request decides whether it is back."))
    endpoints: list[Endpoint] = Field(default_factory=list, description=(
        "Several servers of the same model (e.g. two vLLM servers, or one model behind two keys); empty = "
        "`base_url` + `api_key_env`. Answers are shared: keys do not include the endpoint."))


class StoreDurability(Section):
    """Group commit of the answer store: an answer counts as stored once an fsync covers it."""

    fsync_every: int = Field(64, ge=0, description=(
        "fsync the store after this many answers at most (group commit); 0 = never fsync during the run (a power "
        "loss may lose acknowledged answers; a kill -9 never does)."))
    fsync_ms: float = Field(100.0, gt=0, description=(
        "... or this many milliseconds after the first answer not yet fsynced, whichever comes first."))
