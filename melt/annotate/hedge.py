"""Hedged requests ("The Tail at Scale"): a request outstanding longer than a high percentile of recent
latencies gets one duplicate; the first valid answer wins and the other copy is cancelled.

Both copies carry the same body, hence the same key: the answer stored is the same whichever wins. Hedges
are capped at `hedge_max_share` of the requests sent (plus one, so that a run's first hang can be hedged).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")
MIN_SAMPLES = 20   # below this many latencies the floor alone decides


class Hedger:
    def __init__(self, limits, window: int = 200):
        self.limits = limits
        self.latencies: deque[float] = deque(maxlen=window)
        self.sent = 0       # requests started (each copy counted)
        self.hedges = 0     # duplicates sent

    def record(self, latency_s: float) -> None:
        """The latency of an answer (from the moment its request left)."""
        self.latencies.append(latency_s)

    def delay(self) -> float:
        """How long a request may be outstanding before it is hedged."""
        lim = self.limits
        if len(self.latencies) < MIN_SAMPLES:
            return lim.hedge_floor_s
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, math.ceil(lim.hedge_percentile / 100 * len(ordered)) - 1)
        return max(lim.hedge_floor_s, ordered[rank] * lim.hedge_multiplier)

    def _may_hedge(self) -> bool:
        share = self.limits.hedge_max_share
        return share > 0 and self.hedges + 1 <= share * self.sent + 1

    async def run(self, send: Callable[[asyncio.Event, bool], Awaitable[T]],
                  valid: Callable[[T], bool] = lambda result: True) -> T:
        """`send(on_wire, hedge)` makes one copy's attempt and sets `on_wire` once its request left (the hedge
        clock starts then, not while it waits for the rate limit). The first copy with a valid answer wins (an
        invalid one wins only if the other copy has nothing better); if both fail, the first copy's error is
        raised."""
        on_wire = asyncio.Event()
        self.sent += 1
        copies = [asyncio.ensure_future(send(on_wire, False))]
        try:
            if self.limits.hedge_max_share > 0:
                wire = asyncio.ensure_future(on_wire.wait())
                await asyncio.wait([copies[0], wire], return_when=asyncio.FIRST_COMPLETED)
                wire.cancel()
                if not copies[0].done():
                    done, _ = await asyncio.wait(copies, timeout=self.delay())
                    if not done and self._may_hedge():
                        self.hedges += 1
                        self.sent += 1
                        copies.append(asyncio.ensure_future(send(asyncio.Event(), True)))
            errors: dict[int, BaseException] = {}
            answers: list[T] = []
            pending = set(copies)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for i, copy in enumerate(copies):
                    if copy in done:
                        if copy.exception() is not None:
                            errors[i] = copy.exception()
                        elif valid(copy.result()):
                            return copy.result()
                        else:
                            answers.append(copy.result())
            if answers:
                return answers[0]
            raise errors[min(errors)]
        finally:
            losers = [c for c in copies if not c.done()]
            for copy in losers:
                copy.cancel()
            if losers:
                await asyncio.gather(*losers, return_exceptions=True)
