"""Pacing by evidence: token buckets whose rate can change, and the AIMD controller that changes it.

A transient 429 delays only its own request (melt.annotate.backends). The run slows down only when the
evidence says the budget is spent: the provider's `x-ratelimit-remaining-*` at 0 (the endpoint's gate closes
until `x-ratelimit-reset-*`), or more than `aimd_429_share` of the last `aimd_window` responses were 429s.
Then the request rate and in-flight limit decrease multiplicatively, never below the rate the server was
answering at, which becomes the learned limit; they increase additively by `aimd_step` of the limit per
second up to the learned limit, a tenth as fast above it, where a quarter of the threshold is evidence enough. `x-ratelimit-limit-*`
caps the client's own limit, and sets it under `rpm: auto` / `tpm: auto`.

`clock` and `sleep` are injectable so the behaviour can be checked on a virtual clock.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from dataclasses import dataclass

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """OpenAI's reset format ("1s", "6m0s", "20ms", "1h2m3.5s") or plain seconds, in seconds; None if unreadable."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * unit[u] for n, u in parts)


def _number(headers, name: str) -> float | None:
    value = headers.get(name) if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimitHeaders:
    """The `x-ratelimit-*` headers of one response (OpenAI and Azure send them): per minute, and the time
    until each budget is full again."""
    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens: float | None = None

    @classmethod
    def read(cls, headers) -> "RateLimitHeaders":
        def get(name):
            return headers.get(name) if headers is not None else None
        return cls(_number(headers, "x-ratelimit-limit-requests"), _number(headers, "x-ratelimit-remaining-requests"),
                   parse_duration(get("x-ratelimit-reset-requests")), _number(headers, "x-ratelimit-limit-tokens"),
                   _number(headers, "x-ratelimit-remaining-tokens"), parse_duration(get("x-ratelimit-reset-tokens")))


class PauseGate:
    """Where every request to one endpoint waits before sending; closed while the provider says the budget is
    spent (until its reset)."""

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


class TokenBucket:
    """A token bucket whose rate may change while tasks wait (None = no limit). It holds `burst_s` of the
    rate (at least the largest single amount): providers meter per second, so a client burst of half of it
    leaves slack for the jitter between our send times and their arrival times. Waiters are served in order."""

    def __init__(self, per_s: float | None, largest: float = 1.0, burst_s: float = 0.5,
                 clock=time.monotonic, sleep=asyncio.sleep):
        self.clock, self.sleep = clock, sleep
        self.largest, self.burst_s = largest, burst_s
        self.per_s = per_s
        self.tokens = self.capacity
        self.stamp = clock()
        self._lock = asyncio.Lock()

    @property
    def capacity(self) -> float:
        if self.per_s is None:
            return math.inf
        return max(self.per_s * self.burst_s, min(self.largest, self.per_s * 60))

    def set_rate(self, per_s: float | None) -> None:
        self._refill()
        self.per_s = per_s
        self.tokens = min(self.tokens, self.capacity)

    def _refill(self) -> None:
        now = self.clock()
        if self.per_s is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_s)
        self.stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        async with self._lock:
            while True:
                if self.per_s is None:
                    return
                self._refill()
                need = min(amount, self.capacity)
                if self.tokens >= need - 1e-9:   # float dust must not make a waiter spin
                    self.tokens -= need
                    return
                await self.sleep((need - self.tokens) / self.per_s)


class InflightLimit:
    """A semaphore whose size may change (the AIMD controller lowers and raises it)."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.used < self.limit)
            self.used += 1

    async def release(self) -> None:
        async with self._changed:
            self.used -= 1
            self._changed.notify_all()

    async def resize(self, limit: int) -> None:
        async with self._changed:
            self.limit = limit
            self._changed.notify_all()


class Pacer:
    """One endpoint's pacing: its gate, request and token buckets, in-flight limit and AIMD controller.

    `limits` is an annotator's EngineLimits; `weight` scales its rpm/tpm (an endpoint of weight 2 takes twice
    the rate)."""

    def __init__(self, limits, weight: float = 1.0, max_tokens: int = 400, clock=time.monotonic,
                 sleep=asyncio.sleep):
        self.limits, self.clock, self.sleep = limits, clock, sleep
        self.own_rps = None if limits.rpm == "auto" else limits.rpm / 60 * weight
        self.own_tps = None if limits.tpm == "auto" else limits.tpm / 60 * weight
        self.ceiling_rps, self.ceiling_tps = self.own_rps, self.own_tps   # lowered by x-ratelimit-limit-*
        self.share = 1.0                 # current rate and in-flight limit as a share of their ceilings
        self.stamp = clock()
        self.gate = PauseGate(clock, sleep)
        self.requests = TokenBucket(self.ceiling_rps, 1, clock=clock, sleep=sleep)
        self.tokens = TokenBucket(self.ceiling_tps, max_tokens + 8000, clock=clock, sleep=sleep)
        # `auto` before any header: one request in flight, the probe whose headers say the limit
        self.probing = "auto" in (limits.rpm, limits.tpm)
        self.concurrency = max(1, math.ceil(limits.concurrency * weight))
        self.inflight = InflightLimit(1 if self.probing else self.concurrency)
        # (when the request was sent, was it a 429): answers per second of sending is the rate the server
        # answers at, whether its 429s come back sooner than its answers or not
        self.window: deque[tuple[float, bool]] = deque(maxlen=limits.aimd_window)
        self.decreases = 0
        self.decreased_at = -math.inf
        self.learned_rps: float | None = None   # what the server answered at when its 429s last said "too fast"
        self.rate_history: list[float | None] = []   # the request rate after each change (tests, log)

    @property
    def rate_rps(self) -> float | None:
        return self.requests.per_s

    async def acquire(self, tokens: float) -> None:
        await self.gate.wait()
        await self.inflight.acquire()
        try:
            await self.requests.acquire(1)
            await self.tokens.acquire(tokens)
            await self.gate.wait()   # the gate may have closed while this request waited for a bucket
        except BaseException:
            await self.inflight.release()
            raise

    async def release(self) -> None:
        await self.inflight.release()

    async def observe(self, status: int | None, headers, sent_at: float | None = None) -> None:
        """A response (status None: no response, e.g. a timeout) to a request sent at `sent_at`: what it says
        about the budget. A request sent before the last decrease says nothing about the rate since."""
        now = self.clock()
        rl = RateLimitHeaders.read(headers)
        changed = self._learn_limits(rl)
        if status is not None and (sent_at is None or sent_at >= self.decreased_at):
            self.window.append((now if sent_at is None else sent_at, status == 429))
        spent_for = [reset for remaining, reset in ((rl.remaining_requests, rl.reset_requests),
                                                    (rl.remaining_tokens, rl.reset_tokens))
                     if remaining is not None and remaining <= 0]
        if spent_for:   # the provider says so: nothing more until its reset
            self.gate.pause(min(max(r or 1.0 for r in spent_for), self.limits.backoff_max_s))
        if self._over_limit():
            self._decrease()
            changed = True
        elif self.share < 1.0:
            self._increase(now - self.stamp)
            changed = True
        self.stamp = now
        if changed or self.probing:
            self.probing = False
            await self._apply()

    def _learn_limits(self, rl: RateLimitHeaders) -> bool:
        changed = False
        for header, own, attr in ((rl.limit_requests, self.own_rps, "ceiling_rps"),
                                  (rl.limit_tokens, self.own_tps, "ceiling_tps")):
            if header is None or header <= 0:
                continue
            ceiling = header / 60 if own is None else min(own, header / 60)   # never above what the provider says
            if ceiling != getattr(self, attr):
                setattr(self, attr, ceiling)
                changed = True
        return changed

    def _over_limit(self) -> bool:
        """More 429s in the window than the threshold allows in a full one; above a learned limit, a quarter of
        the threshold (there, 429s are known to come with the rate)."""
        threshold = self.limits.aimd_429_share
        if self.learned_rps is not None and self.rate_rps is not None and self.rate_rps > self.learned_rps:
            threshold /= 4
        # a window's worth of evidence may come before the window is full: decide as soon as it is there (with
        # half a window at least, to measure the rate the server answers at)
        if len(self.window) < self.window.maxlen // 2:
            return False
        return sum(was_429 for _, was_429 in self.window) > threshold * self.window.maxlen

    def _increase(self, seconds: float) -> None:
        """Additive: `aimd_step` of the limit per second up to the learned limit, a tenth of that above it."""
        step = self.limits.aimd_step * seconds
        if self.learned_rps is not None and self.ceiling_rps:
            learned = self.learned_rps / self.ceiling_rps
            if self.share < learned:
                self.share = min(learned, self.share + step)
                return
            step /= 10
        self.share = min(1.0, self.share + step)

    def _decrease(self) -> None:
        """× aimd_factor, but never below the rate the server was answering at (its true limit, learned)."""
        answered = sum(1 for _, was_429 in self.window if not was_429)
        sent = sorted(t for t, _ in self.window)
        span = sent[-1] - sent[0]
        if span > 0 and self.ceiling_rps:
            self.learned_rps = 0.97 * answered / span
        floor = self.learned_rps / self.ceiling_rps if self.learned_rps and self.ceiling_rps else 0.0
        self.share = max(0.01, min(1.0, max(self.share * self.limits.aimd_factor, floor)))
        self.window.clear()   # the next decision needs fresh evidence
        self.decreased_at = self.clock()
        self.decreases += 1

    async def _apply(self) -> None:
        rps = None if self.ceiling_rps is None else self.ceiling_rps * self.share
        self.requests.set_rate(rps)
        self.tokens.set_rate(None if self.ceiling_tps is None else self.ceiling_tps * self.share)
        self.rate_history.append(rps)
        await self.inflight.resize(max(1, math.ceil(self.concurrency * self.share)))
