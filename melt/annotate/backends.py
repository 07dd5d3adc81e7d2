"""Backends that answer one chat-completions body: the offline heuristic and any OpenAI-compatible server.

Retry policy (ours; the client's own retries are off), the OpenAI SDK's: a server's
`x-should-retry: true|false` is obeyed, else 408, 409, 429, 5xx, timeouts (httpx's per phase, and our
overall `deadline_s` per attempt) and connection errors are retried, after the server's `retry-after-ms` /
`Retry-After` or else an exponential backoff with full jitter, any wait capped by `backoff_max_s`. A 429
delays only its own request (its wait jittered up to +20 %); whether the run slows down is the endpoint's
pacer's decision (melt.annotate.pacing). Slow requests are hedged (melt.annotate.hedge); requests go to the
least-loaded healthy endpoint (melt.annotate.endpoints). Any other HTTP error (400, 401, 403, 404...) stops
the run with a clear message.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
from dataclasses import dataclass

import openai

from melt.annotate.endpoints import EndpointPool, EndpointState
from melt.annotate.hedge import Hedger
from melt.annotate.heuristic import HEURISTIC_ID, annotate_prompt
from melt.annotate.pacing import Pacer
from melt.annotate.params import AnnotateParams
from melt.annotate.requests import content_text


@dataclass(frozen=True)
class Reply:
    raw: str | None
    prompt_tokens: int
    completion_tokens: int
    attempts: int        # HTTP attempts this answer took (1 = no retry), hedge copies included
    hedges: int = 0      # hedge copies among them


class FatalBackendError(RuntimeError):
    """The server refused in a way retrying cannot fix (bad key, unknown model, bad request)."""


class RetriesExhausted(RuntimeError):
    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


_SECRET = re.compile(r"sk-[A-Za-z0-9_\-*]{4,}")
_KEY_ENVS = {"OPENAI_API_KEY"}   # + every annotator's api_key_env read by api_key()


def redact(text: str) -> str:
    """Error text from a server may echo the key (OpenAI masks most of it): drop any key-like token."""
    for env in _KEY_ENVS:
        key = os.environ.get(env)
        if key:
            text = text.replace(key, "[redacted]")
    return _SECRET.sub("[redacted]", text)


def retry_after_s(headers) -> float | None:
    """Delay the server asks for: `retry-after-ms`, else `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return None


def retryable(status: int, headers) -> bool:
    """The OpenAI SDK's policy: the server's x-should-retry header, else 408, 409, 429 and 5xx."""
    flag = headers.get("x-should-retry") if headers is not None else None
    if flag in ("true", "false"):
        return flag == "true"
    return status in (408, 409, 429) or status >= 500


def estimate_prompt_tokens(body: dict) -> int:
    # ~4 characters per token for English; only used for the tpm limiter and dry-run estimates (text parts only).
    return sum(len(content_text(m["content"])) for m in body["messages"]) // 4 + 4 * len(body["messages"])


def api_key(params: AnnotateParams) -> str:
    """The key, from the environment variable `api_key_env` only; optional for a local server (vLLM, Ollama,
    llama.cpp accept any)."""
    return key_from_env(getattr(params, "api_key_env", "OPENAI_API_KEY"), params.base_url)


def key_from_env(env: str, base_url: str | None) -> str:
    _KEY_ENVS.add(env)
    key = os.environ.get(env)
    if key:
        return key
    if base_url is None:
        raise FatalBackendError(f"{env} is not set (the key is read from the environment only)")
    return "no-key"


class OfflineBackend:
    """Answers computed locally by `answer(prompt) -> raw text` (default: MELT's rule-based heuristic)."""
    name = "offline"

    def __init__(self, answer=annotate_prompt, model: str = HEURISTIC_ID):
        self.answer, self.model = answer, model

    async def complete(self, prompt: dict, body: dict) -> Reply:
        return Reply(self.answer(prompt), 0, 0, 1)

    async def aclose(self) -> None:
        pass


class Throttled(Exception):
    """A 429: this request waits and goes again; the endpoint's pacer decides whether the run slows down."""

    def __init__(self, message: str, retry_after: float | None):
        super().__init__(message)
        self.retry_after = retry_after


class Retryable(Exception):
    """A failure worth another attempt (408, 409, 5xx, timeout, connection error)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIBackend:
    """Chat completions on one or several OpenAI-compatible endpoints. `clock` and `sleep` are injectable so
    that waits can be checked on a virtual clock."""
    name = "openai"

    def __init__(self, params: AnnotateParams, clock=time.monotonic, sleep=asyncio.sleep):
        self.params, self.clock, self.sleep = params, clock, sleep
        self.model = params.model
        servers = ([(e.base_url, e.api_key_env, e.weight) for e in params.endpoints] if getattr(params, "endpoints", None)
                   else [(params.base_url, getattr(params, "api_key_env", "OPENAI_API_KEY"), 1.0)])
        states = [EndpointState(url, openai.AsyncOpenAI(api_key=key_from_env(env, url), base_url=url, max_retries=0,
                                                        timeout=params.timeout_s),
                                Pacer(params, weight, params.max_tokens, clock, sleep), weight)
                  for url, env, weight in servers]
        self.pool = EndpointPool(states, params.breaker_failures, params.breaker_cooldown_s, clock, sleep)
        self.hedger = Hedger(params)
        self.valid = lambda raw: raw is not None   # the engine sets its check: a hedge race wants a valid answer

    @property
    def endpoints(self) -> list[EndpointState]:
        return self.pool.endpoints

    @property
    def gate(self):   # the first endpoint's pause gate (one endpoint: the run's)
        return self.endpoints[0].pacer.gate

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.params.backoff_max_s, self.params.backoff_base_s * 2 ** (attempt - 1)))

    def _delay(self, attempt: int, asked: float | None) -> float:
        return self._backoff(attempt) if asked is None else min(asked, self.params.backoff_max_s)

    async def complete(self, prompt: dict, body: dict) -> Reply:
        p = self.params
        tokens = estimate_prompt_tokens(body) + body.get("max_tokens", p.max_tokens)
        count = {"sent": 0, "hedges": 0, "primary": None}
        failures = throttles = 0

        async def copy(on_wire: asyncio.Event, hedge: bool) -> Reply:
            count["hedges"] += hedge
            return await self._attempt(body, tokens, on_wire, count, hedge)

        while True:
            try:
                reply = await self.hedger.run(copy, lambda r: self.valid(r.raw))
                return Reply(reply.raw, reply.prompt_tokens, reply.completion_tokens, count["sent"], count["hedges"])
            except Throttled as err:   # pacing, not failure: its own, larger allowance
                throttles += 1
                if throttles > 4 * p.max_retries + 4:
                    raise RetriesExhausted(f"gave up after {count['sent']} attempts; last: {err}", count["sent"])
                wait = err.retry_after if err.retry_after is not None else self._backoff(throttles)
                delay = min(wait * random.uniform(1.0, 1.2), p.backoff_max_s)
            except Retryable as err:
                failures += 1
                if failures > p.max_retries:
                    raise RetriesExhausted(f"gave up after {count['sent']} attempts; last: {err}", count["sent"])
                delay = self._delay(failures, err.retry_after)
            if delay:
                await self.sleep(delay)

    async def _attempt(self, body: dict, tokens: float, on_wire: asyncio.Event, count: dict, hedge: bool) -> Reply:
        """One HTTP request to the least-loaded healthy endpoint (a hedge avoids its primary's), paced by it."""
        p = self.params
        ep = await self.pool.pick(exclude=count["primary"] if hedge else None)
        if not hedge:
            count["primary"] = ep
        outcome = "neutral"
        try:
            await ep.pacer.acquire(tokens)
            try:
                count["sent"] += 1
                ep.sent += 1
                on_wire.set()
                started = self.clock()
                try:
                    raw = await asyncio.wait_for(ep.client.chat.completions.with_raw_response.create(**body),
                                                 p.deadline_s)
                except openai.APIStatusError as err:
                    status, headers = err.status_code, err.response.headers
                    await ep.pacer.observe(status, headers, started)
                    if not retryable(status, headers):
                        raise FatalBackendError(
                            f"HTTP {status} from {ep.where} for model {body['model']!r}: {redact(err.message)}"
                            + (f" (check {getattr(p, 'api_key_env', 'OPENAI_API_KEY')})" if status in (401, 403) else "")
                            + (" (check the annotator's model and base_url)" if status == 404 else "")
                            + (" (check the annotator's response_format and sampling params)" if status == 400 else "")
                        ) from None
                    message = f"HTTP {status}: {redact(err.message)}"
                    if status == 429:
                        raise Throttled(message, retry_after_s(headers)) from None
                    outcome = "failed" if status >= 500 or status == 408 else "neutral"
                    raise Retryable(message, retry_after_s(headers)) from None
                except (openai.APITimeoutError, asyncio.TimeoutError):
                    outcome = "failed"
                    await ep.pacer.observe(None, None, started)
                    raise Retryable(f"timeout after {p.timeout_s} s per phase / {p.deadline_s} s per attempt") from None
                except openai.APIConnectionError as err:
                    outcome = "failed"
                    raise Retryable(f"connection error ({ep.where}): {redact(str(err))}") from None
                resp = raw.parse()
                await ep.pacer.observe(raw.status_code, raw.headers, started)
                self.hedger.record(self.clock() - started)
                outcome = "ok"
                usage = resp.usage
                content = resp.choices[0].message.content if resp.choices else None
                return Reply(content, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0, 1)
            finally:
                await ep.pacer.release()
        finally:
            self.pool.done(ep, outcome)

    async def aclose(self) -> None:
        for ep in self.endpoints:
            await ep.client.close()
