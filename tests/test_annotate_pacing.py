"""Pacing by evidence: a transient 429 delays only its own request; sustained 429s and the provider's
`x-ratelimit-*` headers slow the run (AIMD); `rpm: auto` takes the provider's limit.

Loopback tests read the server's arrival log (its own clock and order); the controller's arithmetic is checked
on a virtual clock. No timing bounds."""

from __future__ import annotations

import asyncio

import pytest

from annotate_helpers import make_prompts, run_annotate, server_params
from llm_server import Faults, LLMServer, content_key
from melt.annotate.backends import OpenAIBackend
from melt.annotate.engine import Progress
from melt.annotate.pacing import Pacer, TokenBucket, parse_duration
from melt.annotate.requests import iter_prompts
from melt.annotate.run import fill
from melt.annotate.store import AnswerStore


class VirtualClock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_transient_429_delays_only_its_own_request(tmp_path):
    """The 429 leaves while 4 requests are on the wire; the 8 prompts not yet sent all arrive during its
    Retry-After, and only the request that got it waits (it comes back after the announced wait)."""
    faults = Faults(script=["429"], retry_after="s", retry_after_value=2.0, latency_s=0.05, hold_429_inflight=4)
    with LLMServer(faults) as srv:
        out = run_annotate(tmp_path, server_params(srv, concurrency=4, backoff_max_s=5), n=12)
        assert out["report"]["status"]["ok"] == 12 and srv.chat_requests == 13
        (start, end), = srv.pauses
        throttled = [(t, key) for t, key, _ in srv.arrivals if srv.seen[key] == 2]
        assert len(throttled) == 2 and throttled[0][0] < start and throttled[1][0] >= end   # Retry-After honoured
        assert srv.arrivals_during_pauses() == 8    # every other prompt went on meanwhile


def _fill_with_backend(params, prompts_dir, store_dir):
    """Run the engine over the prompts; returns the OpenAIBackend it used (to read its pacers)."""
    made = []

    def factory():
        made.append(OpenAIBackend(params))
        return made[0]

    with AnswerStore(store_dir) as store:
        stats = fill(params, lambda: iter_prompts(prompts_dir), store, Progress(0, False), backend_factory=factory)
    return made[0], stats


def test_sustained_429s_slow_the_run_and_no_prompt_fails(tmp_path):
    with LLMServer(Faults(rps=20, latency_s=0.01)) as srv:   # the server's limit: 20 req/s, no headers
        params = server_params(srv, rpm=6000, concurrency=8, aimd_window=10, aimd_429_share=0.2, max_retries=2)
        prompts = make_prompts(tmp_path, 60, params)
        backend, stats = _fill_with_backend(params, prompts, tmp_path / "store")
        assert srv.answered and sum(srv.answered.values()) == 60 and not stats.failures
    pacer = backend.endpoints[0].pacer
    assert pacer.decreases >= 1 and pacer.rate_rps < 100   # below the client's own 6000 rpm
    assert srv.outcomes["rate_limited"] > 0


def test_rpm_auto_takes_the_providers_limit_from_headers(tmp_path):
    with LLMServer(Faults(rpm=600, ratelimit_headers=True, latency_s=0.05)) as srv:
        params = server_params(srv, rpm="auto", concurrency=4)
        prompts = make_prompts(tmp_path, 6, params)
        backend, stats = _fill_with_backend(params, prompts, tmp_path / "store")
        assert stats.answers_received == 6
        first_answer = srv._answer_times[0]
        assert srv.arrivals[1][0] > first_answer   # one probe first: nothing else left before its headers came
    pacer = backend.endpoints[0].pacer
    assert pacer.ceiling_rps == 10 and pacer.rate_rps == 10   # 600 per minute


def test_the_providers_limit_caps_the_clients():
    clock = VirtualClock()

    async def go():
        pacer = Pacer(server_params_like(rpm=6000), clock=clock, sleep=clock.sleep)
        await pacer.observe(200, {"x-ratelimit-limit-requests": "3000", "x-ratelimit-remaining-requests": "2999"})
        return pacer

    pacer = asyncio.run(go())
    assert pacer.ceiling_rps == 50 and pacer.rate_rps == 50 and pacer.gate.pauses == []


def test_remaining_zero_closes_the_gate_until_the_reset():
    clock = VirtualClock()

    async def go():
        pacer = Pacer(server_params_like(rpm=600), clock=clock, sleep=clock.sleep)
        await pacer.observe(200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"})
        await pacer.acquire(10)
        return pacer

    pacer = asyncio.run(go())
    assert pacer.gate.pauses == [1.5] and clock.now == 1.5 and pacer.decreases == 0


def test_aimd_decreases_multiplicatively_and_recovers_additively():
    clock = VirtualClock()
    limits = server_params_like(rpm=6000, concurrency=10, aimd_window=10, aimd_429_share=0.3, aimd_factor=0.5,
                                aimd_step=0.1)

    async def go():
        pacer = Pacer(limits, clock=clock, sleep=clock.sleep)
        for i in range(10):   # 3 of 10 are 429: not above the share
            await pacer.observe(429 if i < 3 else 200, None)
        assert pacer.decreases == 0 and pacer.rate_rps == 100
        for _ in range(4):    # now 4 of the last 10, all within one instant (no answer rate to keep)
            await pacer.observe(429, None)
        assert pacer.decreases == 1 and pacer.rate_rps == 50 and pacer.inflight.limit == 5
        clock.now += 2.0      # two seconds of answers: + 2 × 10 % of the limit
        await pacer.observe(200, None)
        assert pacer.rate_rps == pytest.approx(70) and pacer.inflight.limit == 7
        clock.now += 10.0
        await pacer.observe(200, None)
        assert pacer.rate_rps == 100 and pacer.inflight.limit == 10

    asyncio.run(go())


def test_a_decrease_keeps_the_rate_the_server_was_answering_at_and_learns_it():
    clock = VirtualClock()
    limits = server_params_like(rpm=6000, aimd_window=10, aimd_429_share=0.2, aimd_factor=0.5, aimd_step=0.1)

    async def go():
        pacer = Pacer(limits, clock=clock, sleep=clock.sleep)
        for i in range(7):   # requests sent 10 ms apart, every third a 429: the third 429 (> 20 % of a window
            clock.now = i * 0.01                         # of 10) decides, with half a window seen
            await pacer.observe(429 if i % 3 == 0 else 200, None, sent_at=clock.now)
        assert pacer.decreases == 1   # 4 answered over 60 ms of sending: the server answers at 66.7 req/s
        assert pacer.learned_rps == pytest.approx(0.97 * 4 / 0.06) and pacer.rate_rps == pytest.approx(0.97 * 4 / 0.06)
        await pacer.observe(429, None, sent_at=0.0)   # sent before the decrease: no evidence about the new rate
        assert list(pacer.window) == []
        clock.now += 1.0      # above the learned limit the rate grows a tenth as fast: + 1 % of 100 req/s
        await pacer.observe(200, None, sent_at=clock.now)
        assert pacer.rate_rps == pytest.approx(0.97 * 4 / 0.06 + 1.0)
        for _ in range(2):    # there, > 5 % of a window (a quarter of the threshold) is evidence enough: 2 429s
            await pacer.observe(429, None, sent_at=clock.now)
        await pacer.observe(200, None, sent_at=clock.now)
        assert pacer.decreases == 1   # 4 responses since the decrease: less than half a window
        await pacer.observe(200, None, sent_at=clock.now)
        assert pacer.decreases == 2

    asyncio.run(go())


def test_token_bucket_paces_and_follows_rate_changes():
    clock = VirtualClock()

    async def go():
        bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)   # holds half a second: 5
        for _ in range(15):
            await bucket.acquire()
        assert clock.now == pytest.approx(1.0)   # 5 at once, then 10 at 10/s
        bucket.set_rate(2)
        for _ in range(2):
            await bucket.acquire()
        assert clock.now == pytest.approx(2.0)
        bucket.set_rate(None)
        await bucket.acquire(1e9)
        assert clock.now == pytest.approx(2.0)

    asyncio.run(go())


@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                           ("0.25", 0.25), ("soon", None), ("", None), ("5x", None)])
def test_reset_durations(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def server_params_like(**kw):
    from melt.annotate.limits import EngineLimits
    return EngineLimits(**kw)
