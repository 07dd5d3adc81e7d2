"""Several servers of one annotator's model: the least-loaded healthy endpoint takes each request, and a
circuit breaker cools down one that keeps failing.

Load is requests in flight (or waiting for the endpoint's pacer) / weight. After `breaker_failures`
consecutive failures (5xx, timeouts, connection errors) an endpoint gets nothing for `breaker_cooldown_s`;
then one probe request goes to it: an answer closes the breaker, a failure opens it again. When every
endpoint is cooling down, requests wait for the first probe. The endpoint is never part of a request's key.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from melt.annotate.pacing import Pacer


def public_url(url: str | None) -> str:
    """A base URL without credentials (for messages and the log)."""
    if not url:
        return "api.openai.com"
    parts = urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))


@dataclass
class EndpointState:
    url: str | None          # None = api.openai.com
    client: object           # openai.AsyncOpenAI
    pacer: Pacer
    weight: float = 1.0
    load: int = 0            # requests picked for it and not finished
    failures: int = 0        # consecutive
    open_until: float = 0.0  # cooling down until then (breaker open)
    probing: bool = False    # the one request of a half-open breaker is out
    opened: int = 0          # times the breaker opened
    sent: int = 0
    answered: int = 0

    @property
    def where(self) -> str:
        return public_url(self.url)


@dataclass
class EndpointPool:
    endpoints: list[EndpointState]
    failures_to_open: int
    cooldown_s: float
    clock: object = time.monotonic
    sleep: object = asyncio.sleep
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _available(self, now: float, exclude: EndpointState | None) -> list[EndpointState]:
        ready = [e for e in self.endpoints if e.open_until <= now and not e.probing]
        others = [e for e in ready if e is not exclude]
        return others or ready

    async def pick(self, exclude: EndpointState | None = None) -> EndpointState:
        """The least-loaded healthy endpoint (`exclude`, a hedge's primary, only if it is the only one)."""
        while True:
            now = self.clock()
            ready = self._available(now, exclude)
            if ready:
                best = min(ready, key=lambda e: e.load / e.weight)
                if best.open_until:   # the cooldown is over: this request is the probe
                    best.probing = True
                best.load += 1
                return best
            wake = min(e.open_until for e in self.endpoints if e.open_until > now) if any(
                e.open_until > now for e in self.endpoints) else now + 0.05   # a probe is out: poll
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.001, wake - now))
            except asyncio.TimeoutError:
                pass

    def done(self, ep: EndpointState, outcome: str) -> None:
        """`ok` (an answer), `failed` (5xx, timeout, connection error) or `neutral` (429, 4xx, cancelled)."""
        ep.load -= 1
        if outcome == "ok":
            ep.failures, ep.open_until, ep.probing = 0, 0.0, False
            ep.answered += 1
        elif outcome == "failed":
            ep.failures += 1
            if ep.probing or ep.failures >= self.failures_to_open:
                ep.open_until = self.clock() + self.cooldown_s
                ep.opened += 1
            ep.probing = False
        elif ep.probing:   # a probe that said nothing: let another request probe
            ep.probing = False
        self._changed.set()
