"""The engine's pacing (melt.annotate.pacing) on a virtual clock, every number worked out by hand: OpenAI's reset
durations, the rate-limit headers, the pause gate, the token bucket's capacity and refill, the in-flight limit,
and the AIMD controller's decisions (ceilings from headers, the 429 share, multiplicative decrease with its floor,
additive increase below and above the learned limit)."""

from __future__ import annotations

import asyncio
import math

import pytest

from melt.annotate.limits import EngineLimits
from melt.annotate.pacing import (InflightLimit, Pacer, PauseGate, RateLimitHeaders, TokenBucket, _number,
                                  parse_duration)
from test_annotate_pacing import VirtualClock


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("1.5m", 90.0), ("2h", 7200.0), ("250ms", 0.25), ("1m30s", 90.0), (" 2s ", 2.0), ("3", 3.0),
    ("-4", 0.0), (None, None), ("", None), ("ms", None), ("1s5x", None), ("x1s", None), ("1 s", None)])
def test_reset_durations_by_hand(text, seconds):
    assert parse_duration(text) == seconds


def test_header_numbers_and_the_header_record():
    assert _number(None, "a") is None and _number({}, "a") is None and _number({"a": "x"}, "a") is None
    assert _number({"a": "12.5"}, "a") == 12.5
    headers = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599",
               "x-ratelimit-reset-requests": "100ms", "x-ratelimit-limit-tokens": "90000",
               "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}
    assert RateLimitHeaders.read(headers) == RateLimitHeaders(600.0, 599.0, 0.1, 90000.0, 0.0, 360.0)
    assert RateLimitHeaders.read(None) == RateLimitHeaders()
    assert RateLimitHeaders() == RateLimitHeaders(None, None, None, None, None, None)


def test_pause_gate_keeps_the_latest_end_and_waits_for_it():
    clock = VirtualClock()
    clock.now = 5.0
    gate = PauseGate(clock, clock.sleep)
    gate.pause(2.0)
    gate.pause(1.0)   # ends earlier: the gate stays closed until 7
    assert gate.pauses == [2.0, 1.0] and gate.until == 7.0
    asyncio.run(gate.wait())
    assert clock.now == 7.0 and clock.slept == [2.0]
    asyncio.run(gate.wait())   # open: no sleep
    assert clock.slept == [2.0]


def test_token_bucket_capacity_refill_and_rate_changes():
    clock = VirtualClock()
    assert TokenBucket(None, clock=clock).capacity == math.inf
    assert TokenBucket(10, clock=clock).capacity == 5.0                 # half a second of 10/s
    assert TokenBucket(1, largest=3, clock=clock).capacity == 3.0       # the largest single amount fits
    assert TokenBucket(0.01, largest=3, clock=clock).capacity == 0.6    # but never more than a minute's worth
    assert TokenBucket(4, burst_s=2.0, clock=clock).capacity == 8.0

    async def go():
        bucket = TokenBucket(4, largest=1, clock=clock, sleep=clock.sleep)   # capacity 2, starts full
        assert bucket.tokens == 2.0
        await bucket.acquire(2)
        assert clock.now == 0.0 and bucket.tokens == 0.0
        await bucket.acquire(1)          # 1 token at 4/s: 0.25 s
        assert clock.now == 0.25 and clock.slept == [0.25]
        clock.now += 10.0                # refill stops at the capacity
        bucket._refill()
        assert bucket.tokens == 2.0
        bucket.set_rate(1.0)             # capacity now 1: the tokens are cut to it
        assert bucket.tokens == 1.0 and bucket.capacity == 1.0
        await bucket.acquire(5)          # more than the capacity: asks for the capacity only
        assert clock.now == 10.25 and bucket.tokens == 0.0
        clock.now += 0.5
        bucket.set_rate(2.0)             # refilled at the old rate (0.5) before the change
        assert bucket.tokens == 0.5 and bucket.stamp == 10.75
        await bucket.acquire(1)          # 0.5 missing at 2/s
        assert clock.now == pytest.approx(11.0)

    asyncio.run(go())


def test_inflight_limit_blocks_at_its_size_and_follows_a_resize():
    async def go():
        limit = InflightLimit(2)
        await limit.acquire()
        await limit.acquire()
        third = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0)
        assert not third.done() and limit.used == 2
        await limit.resize(3)
        await asyncio.wait_for(third, 1)
        assert limit.used == 3 and limit.limit == 3
        await limit.release()
        assert limit.used == 2

    asyncio.run(go())


def limits(**kw) -> EngineLimits:
    return EngineLimits(**kw)


def test_pacer_start_from_the_params_and_weight():
    clock = VirtualClock()
    pacer = Pacer(limits(rpm=600, tpm=60_000, concurrency=3), weight=2.0, max_tokens=100, clock=clock)
    assert (pacer.own_rps, pacer.own_tps) == (20.0, 2000.0)
    assert (pacer.ceiling_rps, pacer.ceiling_tps, pacer.rate_rps) == (20.0, 2000.0, 20.0)
    assert pacer.tokens.largest == 8100 and pacer.requests.largest == 1
    assert pacer.concurrency == 6 and pacer.inflight.limit == 6 and not pacer.probing and pacer.share == 1.0
    assert pacer.window.maxlen == 50
    half = Pacer(limits(concurrency=3), weight=0.5, clock=clock)
    assert half.concurrency == 2   # ceil(1.5)
    auto = Pacer(limits(rpm="auto", concurrency=4), clock=clock)
    assert auto.own_rps is None and auto.probing and auto.inflight.limit == 1 and auto.rate_rps is None
    auto_tpm = Pacer(limits(tpm="auto"), clock=clock)
    assert auto_tpm.own_tps is None and auto_tpm.probing


def test_headers_set_and_cap_the_ceilings():
    clock = VirtualClock()

    async def go():
        auto = Pacer(limits(rpm="auto", tpm="auto", concurrency=4), clock=clock, sleep=clock.sleep)
        await auto.observe(200, {"x-ratelimit-limit-requests": "120", "x-ratelimit-limit-tokens": "6000"})
        assert (auto.ceiling_rps, auto.ceiling_tps, auto.rate_rps, auto.tokens.per_s) == (2.0, 100.0, 2.0, 100.0)
        assert not auto.probing and auto.inflight.limit == 4 and auto.rate_history == [2.0]
        own = Pacer(limits(rpm=60, tpm=600), clock=clock, sleep=clock.sleep)   # 1 req/s, 10 tokens/s
        await own.observe(200, {"x-ratelimit-limit-requests": "120", "x-ratelimit-limit-tokens": "300"})
        assert (own.ceiling_rps, own.ceiling_tps) == (1.0, 5.0)   # never above either limit
        assert own.rate_history == [1.0]
        await own.observe(200, {"x-ratelimit-limit-requests": "0"})   # a 0 limit is no information
        assert own.ceiling_rps == 1.0 and own.rate_history == [1.0]   # nothing changed: no re-apply

    asyncio.run(go())


def test_spent_budget_pauses_until_the_reset_capped_by_backoff_max():
    clock = VirtualClock()

    async def go():
        pacer = Pacer(limits(backoff_max_s=30), clock=clock, sleep=clock.sleep)
        await pacer.observe(200, {"x-ratelimit-remaining-requests": "0"})              # no reset given: 1 s
        await pacer.observe(200, {"x-ratelimit-remaining-tokens": "-1", "x-ratelimit-reset-tokens": "2m"})
        await pacer.observe(200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "3s",
                                  "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "5s"})
        await pacer.observe(200, {"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "9s"})
        assert pacer.gate.pauses == [1.0, 30.0, 5.0] and pacer.decreases == 0

    asyncio.run(go())


def test_aimd_decision_threshold_floor_and_recovery():
    clock = VirtualClock()
    cfg = limits(rpm=600, concurrency=10, aimd_window=10, aimd_429_share=0.2, aimd_factor=0.5, aimd_step=0.1)

    async def go():
        pacer = Pacer(cfg, clock=clock, sleep=clock.sleep)
        for _ in range(4):        # 4 responses < half a window: no decision yet, however many 429s
            await pacer.observe(429, None)
        assert pacer.decreases == 0
        await pacer.observe(None, None)   # no response (timeout): not evidence
        assert len(pacer.window) == 4 and pacer.decreases == 0
        await pacer.observe(429, None)    # 5 of 10 seen, 5 429s > 0.2 × 10: decrease
        # all 5 sent at one instant: no span, no learned rate → share 0.5
        assert pacer.decreases == 1 and pacer.share == 0.5 and pacer.rate_rps == 5.0 and pacer.learned_rps is None
        assert pacer.inflight.limit == 5 and list(pacer.window) == [] and pacer.decreased_at == 0.0
        clock.now = 3.0                   # 3 s at 10 % per second
        await pacer.observe(200, None)
        assert pacer.share == pytest.approx(0.8) and pacer.rate_rps == pytest.approx(8.0)
        assert pacer.inflight.limit == 8
        clock.now = 10.0                  # capped at the full rate
        await pacer.observe(200, None)
        assert pacer.share == 1.0 and pacer.rate_rps == 10.0

        # exactly at the threshold is not above it: 2 of 10 are 429s
        fresh = Pacer(cfg, clock=clock, sleep=clock.sleep)
        for status in (429, 429, 200, 200, 200, 200, 200, 200, 200, 200):
            await fresh.observe(status, None)
        assert fresh.decreases == 0

    asyncio.run(go())


def test_decrease_floor_is_the_answered_rate_and_the_minimum_share():
    clock = VirtualClock()
    cfg = limits(rpm=6000, concurrency=4, aimd_window=10, aimd_429_share=0.2, aimd_factor=0.5, aimd_step=0.1)

    async def go():
        pacer = Pacer(cfg, clock=clock, sleep=clock.sleep)   # ceiling 100 req/s
        # sent at 0, 0.1, ..., 0.4 s: 2 answered, 3 429s → 0.97 × 2 / 0.4 = 4.85 req/s learned
        for i, status in enumerate((429, 200, 429, 200, 429)):
            clock.now = i * 0.1
            await pacer.observe(status, None, sent_at=i * 0.1)
        assert pacer.learned_rps == pytest.approx(4.85)
        assert pacer.share == 0.5   # × 0.5 is above the floor 0.0485
        # learned limit below: increase 10 %/s up to it... here share 0.5 > 0.0485, so a tenth as fast
        clock.now = 1.4
        await pacer.observe(200, None, sent_at=1.4)
        assert pacer.share == pytest.approx(0.5 + 0.1 * 1.0 / 10)

        low = Pacer(limits(rpm=6000, aimd_window=10, aimd_429_share=0.2, aimd_factor=0.01, aimd_step=0.1),
                    clock=clock, sleep=clock.sleep)
        clock.now = 0.0
        for _ in range(5):
            await low.observe(429, None, sent_at=0.0)
        assert low.share == 0.01 and low.inflight.limit == 1   # never below 1 % nor one request in flight

    asyncio.run(go())


def test_increase_up_to_the_learned_limit_then_a_tenth_as_fast():
    clock = VirtualClock()
    pacer = Pacer(limits(rpm=6000, aimd_step=0.1), clock=clock)   # ceiling 100 req/s
    pacer.learned_rps, pacer.share = 60.0, 0.3
    pacer._increase(2.0)          # +0.2, below the learned 0.6
    assert pacer.share == pytest.approx(0.5)
    pacer._increase(2.0)          # +0.2 would pass 0.6: stops there
    assert pacer.share == pytest.approx(0.6)
    pacer._increase(2.0)          # above it: +0.02
    assert pacer.share == pytest.approx(0.62)
    pacer.share = 0.999
    pacer._increase(1.0)
    assert pacer.share == 1.0
    unknown = Pacer(limits(rpm=6000, aimd_step=0.1), clock=clock)
    unknown.share = 0.3
    unknown._increase(2.0)        # nothing learned: the full step
    assert unknown.share == pytest.approx(0.5)


def test_over_limit_uses_a_quarter_of_the_threshold_above_the_learned_rate():
    clock = VirtualClock()
    pacer = Pacer(limits(rpm=6000, aimd_window=20, aimd_429_share=0.2), clock=clock)
    for status in (429, 200, 200, 200, 200, 200, 200, 200, 200, 200):   # 1 of 10 (half a window of 20)
        pacer.window.append((0.0, status == 429))
    assert not pacer._over_limit()   # 1 ≤ 0.2 × 20
    pacer.learned_rps = 50.0         # rate 100 > 50: threshold 0.05 × 20 = 1
    assert not pacer._over_limit()   # 1 is not above 1
    pacer.window.append((0.0, True))
    assert pacer._over_limit()       # 2 > 1
    pacer.learned_rps = 100.0        # at the learned rate, not above: the full threshold (4)
    assert not pacer._over_limit()
    short = Pacer(limits(aimd_window=20), clock=clock)
    for _ in range(9):
        short.window.append((0.0, True))
    assert not short._over_limit()   # 9 < 10: not yet half a window


def test_stale_evidence_and_acquire_through_gate_and_buckets():
    clock = VirtualClock()

    async def go():
        pacer = Pacer(limits(rpm=60, tpm=600, concurrency=1, aimd_window=10), clock=clock, sleep=clock.sleep)
        pacer.decreased_at = 5.0
        await pacer.observe(429, None, sent_at=4.0)   # sent before the last decrease
        assert list(pacer.window) == []
        await pacer.observe(200, None, sent_at=5.0)
        assert list(pacer.window) == [(5.0, False)]
        clock.now = 7.0
        await pacer.observe(200, None)                # no sent time: now
        assert list(pacer.window)[-1] == (7.0, False)
        # 1 req/s with 1 token of burst, 10 tokens/s with 408 of burst (max_tokens 400 + 8000 cap by a minute)
        await pacer.acquire(5)
        assert pacer.inflight.used == 1
        await pacer.release()
        assert pacer.inflight.used == 0
        pacer.gate.pause(2.0)
        await pacer.acquire(1)                        # waits for the gate, then for the request bucket
        assert clock.now == 9.0 and clock.slept == [2.0] and pacer.inflight.used == 1

    asyncio.run(go())


def test_defaults_and_small_limits():
    clock = VirtualClock()
    assert TokenBucket(1, clock=clock).capacity == 1.0          # default largest single amount: 1
    assert Pacer(limits(), clock=clock).tokens.largest == 8400  # default max_tokens 400 + 8000
    assert Pacer(limits(concurrency=1), clock=clock).concurrency == 1
    gate = PauseGate(clock, clock.sleep)
    asyncio.run(gate.wait())                                    # a new gate is open
    gate.pause(0.5)
    asyncio.run(gate.wait())                                    # a short pause is waited too
    assert clock.slept == [0.5] and clock.now == 0.5


def test_auto_limits_without_headers_stay_unlimited_and_headers_of_one_per_minute():
    clock = VirtualClock()

    async def go():
        auto = Pacer(limits(rpm="auto", tpm="auto", concurrency=4), clock=clock, sleep=clock.sleep)
        await auto.observe(200, {})      # the probe's answer says nothing: no limit known, no longer probing
        assert auto.rate_rps is None and auto.tokens.per_s is None and auto.inflight.limit == 4
        assert auto.rate_history == [None]
        await auto.observe(200, {"x-ratelimit-limit-requests": "1"})   # one request per minute is a limit
        assert auto.ceiling_rps == pytest.approx(1 / 60)
        # an unusable requests header does not hide the tokens header after it
        await auto.observe(200, {"x-ratelimit-limit-requests": "0", "x-ratelimit-limit-tokens": "300"})
        assert auto.ceiling_tps == 5.0 and auto.tokens.per_s == 5.0

    asyncio.run(go())


def test_acquire_takes_one_request_and_the_tokens_waiting_on_the_virtual_clock():
    clock = VirtualClock()

    async def go():
        # 10 req/s (5 at once), 6 tokens/s holding a minute's worth (360)
        pacer = Pacer(limits(rpm=600, tpm=360, concurrency=10), clock=clock, sleep=clock.sleep)
        for _ in range(5):
            await asyncio.wait_for(pacer.acquire(1), 5)
            await pacer.release()
        assert clock.now == 0.0 and clock.slept == []
        await asyncio.wait_for(pacer.acquire(1), 5)   # the 6th request waits 0.1 s
        await pacer.release()
        assert clock.slept == [pytest.approx(0.1)]
        # a request every 0.1 s from here: at 0.2 s, 360 - 6 + 0.2 × 6 tokens → 1.2 left after 354
        await asyncio.wait_for(pacer.acquire(354), 5)
        await pacer.release()
        assert clock.now == pytest.approx(0.2)
        # at 0.3 s: 1.8 tokens, 4.2 missing at 6/s → 0.7 s more
        await asyncio.wait_for(pacer.acquire(6), 5)
        assert clock.now == pytest.approx(1.0)

    asyncio.run(go())


def test_decrease_learns_from_sends_that_start_late_and_keeps_the_share_at_most_one():
    clock = VirtualClock()
    clock.now = 1.0
    cfg = limits(rpm=60, tpm=600, aimd_window=10, aimd_429_share=0.2, aimd_factor=0.5)

    async def go():
        pacer = Pacer(cfg, clock=clock, sleep=clock.sleep)   # ceiling 1 req/s
        # sent at 1.00 … 1.04 s: 2 answered in 0.04 s → 48.5 req/s, far above the ceiling: share stays 1
        for i, status in enumerate((429, 200, 429, 200, 429)):
            clock.now = 1.0 + i * 0.01
            await pacer.observe(status, None, sent_at=clock.now)
        assert pacer.learned_rps == pytest.approx(0.97 * 2 / 0.04)
        assert pacer.share == 1.0 and pacer.rate_rps == 1.0 and pacer.tokens.per_s == 10.0

    asyncio.run(go())


def test_tokens_rate_follows_the_share_and_an_odd_window():
    clock = VirtualClock()

    async def go():
        pacer = Pacer(limits(rpm=600, tpm=6000, aimd_window=10, aimd_429_share=0.2, aimd_factor=0.5),
                      clock=clock, sleep=clock.sleep)
        for _ in range(5):
            await pacer.observe(429, None)
        assert pacer.share == 0.5 and pacer.tokens.per_s == 50.0   # 100 tokens/s × 0.5

    asyncio.run(go())
    odd = Pacer(limits(aimd_window=5, aimd_429_share=0.2), clock=clock)
    odd.window.extend([(0.0, True), (0.0, True)])   # 2 ≥ 5 // 2 seen; 2 > 0.2 × 5
    assert odd._over_limit()
