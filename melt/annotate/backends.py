"""Backends that answer one chat-completions body: the offline heuristic and any OpenAI-compatible server.

Retry policy (ours; the client's own retries are off), the OpenAI SDK's: a server's
`x-should-retry: true|false` is obeyed, else 408, 409, 429, 5xx, timeouts and connection errors are
retried, after the server's `retry-after-ms` / `Retry-After` or else an exponential backoff with
full jitter, any wait capped by `annotate.backoff_max_s`. A 429 closes a pause gate that every task
of the run waits on before sending, so the whole run backs off, not only the task that got it. Any
other HTTP error (400, 401, 403, 404...) stops the run with a clear message.
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
from aiolimiter import AsyncLimiter

from melt.annotate.heuristic import HEURISTIC_ID, annotate_prompt
from melt.annotate.params import AnnotateParams
from melt.annotate.requests import content_text


@dataclass(frozen=True)
class Reply:
    raw: str | None
    prompt_tokens: int
    completion_tokens: int
    attempts: int        # HTTP attempts this answer took (1 = no retry)


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


class PauseGate:
    """Where every task of a run waits before sending; a 429 closes it for the server's delay.

    `clock` and `sleep` are injectable so the gate's behaviour can be checked on a virtual clock."""

    def __init__(self, clock=time.monotonic, sleep=asyncio.sleep):
        self.clock, self.sleep = clock, sleep
        self.until = 0.0
        self.pauses: list[float] = []   # every pause asked for, seconds (for the log and tests)

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.until = max(self.until, self.clock() + seconds)

    async def wait(self) -> None:
        while (left := self.until - self.clock()) > 0:
            await self.sleep(left)


def _limiter(per_minute: float, largest_amount: float) -> AsyncLimiter:
    """The rate as a bucket of half a second when it holds the largest single amount, else of a minute.

    Providers meter with buckets of about a second: a client burst of half of it leaves slack for
    the jitter between our send times and their arrival times, so the limit itself causes no 429s."""
    for period in (0.5, 1, 60):
        capacity = per_minute / 60 * period
        if capacity >= largest_amount:
            return AsyncLimiter(capacity, period)
    return AsyncLimiter(per_minute, 60)


def estimate_prompt_tokens(body: dict) -> int:
    # ~4 characters per token for English; only used for the tpm limiter and dry-run estimates (text parts only).
    return sum(len(content_text(m["content"])) for m in body["messages"]) // 4 + 4 * len(body["messages"])


def api_key(params: AnnotateParams) -> str:
    """The key, from the environment variable `api_key_env` only; optional for a local server (vLLM, Ollama,
    llama.cpp accept any)."""
    env = getattr(params, "api_key_env", "OPENAI_API_KEY")
    _KEY_ENVS.add(env)
    key = os.environ.get(env)
    if key:
        return key
    if params.base_url is None:
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


class OpenAIBackend:
    name = "openai"

    def __init__(self, params: AnnotateParams, gate: PauseGate | None = None):
        self.params = params
        self.model = params.model
        self.gate = gate or PauseGate()
        self.client = openai.AsyncOpenAI(api_key=api_key(params), base_url=params.base_url, max_retries=0,
                                         timeout=params.timeout_s)
        self.rpm = _limiter(params.rpm, 1)
        self.tpm = _limiter(params.tpm, params.max_tokens + 8000)
        self.where = params.base_url or "api.openai.com"

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.params.backoff_max_s, self.params.backoff_base_s * 2 ** (attempt - 1)))

    def _delay(self, attempt: int, headers) -> float:
        asked = retry_after_s(headers)
        return self._backoff(attempt) if asked is None else min(asked, self.params.backoff_max_s)

    async def complete(self, prompt: dict, body: dict) -> Reply:
        p = self.params
        tokens = min(estimate_prompt_tokens(body) + body.get("max_tokens", p.max_tokens), self.tpm.max_rate)
        last_error = ""
        for attempt in range(1, p.max_retries + 2):
            await self.gate.wait()
            await self.rpm.acquire()
            await self.tpm.acquire(tokens)
            await self.gate.wait()   # a 429 may have closed the gate while this task waited for the limiter
            try:
                resp = await self.client.chat.completions.create(**body)
            except openai.APIStatusError as err:
                status = err.status_code
                if not retryable(status, err.response.headers):
                    raise FatalBackendError(
                        f"HTTP {status} from {self.where} for model {body['model']!r}: {redact(err.message)}"
                        + (f" (check {getattr(p, 'api_key_env', 'OPENAI_API_KEY')})" if status in (401, 403) else "")
                        + (" (check the annotator's model and base_url)" if status == 404 else "")
                        + (" (check the annotator's response_format and sampling params)" if status == 400 else "")
                    ) from None
                last_error = f"HTTP {status}: {redact(err.message)}"
                delay = self._delay(attempt, err.response.headers)
                if status == 429:   # the whole run backs off; this task waits at the gate like the others
                    self.gate.pause(delay)
                    delay = 0.0
            except openai.APITimeoutError:
                last_error, delay = f"timeout after {p.timeout_s} s", self._backoff(attempt)
            except openai.APIConnectionError as err:
                last_error, delay = f"connection error: {redact(str(err))}", self._backoff(attempt)
            else:
                usage = resp.usage
                content = resp.choices[0].message.content if resp.choices else None
                return Reply(content, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                             attempt)
            if attempt > p.max_retries:
                raise RetriesExhausted(f"gave up after {attempt} attempts; last: {last_error}", attempt)
            if delay:
                await self.gate.sleep(delay)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.client.close()
