"""Tail latency and several endpoints over real HTTP (the loopback server): hedging, the per-attempt deadline,
the least-loaded endpoint, the circuit breaker, answers shared across endpoints.

No timing bounds: behaviour is read on the server (requests per endpoint, repeats of one body) and in the store."""

from __future__ import annotations

import asyncio
import json

from annotate_helpers import make_prompts, read_annotations, run_annotate, server_params
from llm_server import Faults, LLMServer, content_key
from melt.annotate.endpoints import EndpointPool, EndpointState
from melt.annotate.limits import Endpoint
from melt.annotate.requests import iter_prompts
from melt.annotate.store import AnswerStore


def test_a_hung_request_is_hedged_and_the_store_holds_the_winners_answer(tmp_path):
    with LLMServer(Faults(script=["hang"], latency_s=0.02)) as srv:
        params = server_params(srv, concurrency=1, hedge_floor_s=0.3, hedge_max_share=0.5, deadline_s=60)
        out = run_annotate(tmp_path, params, n=3)
        first = next(iter_prompts(tmp_path / "prompts"))
        key = content_key(first["body"])
        assert srv.outcomes["hang"] == 1 and srv.seen[key] == 2 and srv.answered[key] == 1   # one hedge, it won
        assert srv.chat_requests == 4
    assert out["metrics"]["hedges"] == 1 and out["metrics"]["requests_sent"] == 4 and out["metrics"]["failed"] == 0
    with AnswerStore(tmp_path / "store") as store:
        assert store.get(first["key"])["raw"] == LLMServer.answer_for(first["body"], "ok")
        assert len(store) == 3   # one record for the hedged key, whichever copy won
    assert [r["status"] for r in read_annotations(tmp_path / "out")] == ["ok"] * 3


def test_without_hedging_the_attempt_deadline_ends_a_hung_request(tmp_path):
    with LLMServer(Faults(script=["hang"], latency_s=0.02)) as srv:
        # httpx's own timeout (30 s per phase) would wait; the overall deadline of the attempt does not
        params = server_params(srv, concurrency=2, hedge_max_share=0, deadline_s=0.5, timeout_s=30)
        out = run_annotate(tmp_path, params, n=3)
        assert srv.chat_requests == 4 and srv.outcomes["hang"] == 1
    assert out["metrics"]["hedges"] == 0 and out["report"]["status"]["ok"] == 3


def test_a_dead_endpoint_is_cooled_down_and_the_run_goes_on(tmp_path):
    with LLMServer(Faults(dead=True)) as dead, LLMServer(Faults(latency_s=0.01)) as alive:
        endpoints = [Endpoint(base_url=dead.base_url), Endpoint(base_url=alive.base_url)]
        params = server_params(alive, base_url=None, endpoints=endpoints, concurrency=1, breaker_failures=2,
                               breaker_cooldown_s=600)
        out = run_annotate(tmp_path, params, n=12)
        # concurrency 1: both idle, the first listed is picked until its breaker opens after 2 failures
        assert dead.chat_requests == 2 and dead.outcomes["dead"] == 2
        assert alive.chat_requests == 12
    assert out["report"]["status"]["ok"] == 12 and out["metrics"]["requests_sent"] == 14


def test_answers_are_shared_whatever_the_endpoints(tmp_path):
    with LLMServer(Faults(latency_s=0.05)) as a, LLMServer(Faults(latency_s=0.05)) as b:
        both = server_params(a, base_url=None, concurrency=2,   # per endpoint: 4 in flight
                             endpoints=[Endpoint(base_url=a.base_url), Endpoint(base_url=b.base_url)])
        out = run_annotate(tmp_path, both, n=8)
        assert a.chat_requests > 0 and b.chat_requests > 0 and a.chat_requests + b.chat_requests == 8
        assert max(a.max_inflight, b.max_inflight) == 2   # least-loaded: 4 in flight are spread over both
        only_b = both.model_copy(update={"endpoints": [Endpoint(base_url=b.base_url)]})
        again = run_annotate(tmp_path, only_b)
        assert again["metrics"]["cache_hits"] == 8 and again["metrics"]["requests_sent"] == 0
        assert a.chat_requests + b.chat_requests == 8
    assert out["report"]["status"]["ok"] == 8 and read_annotations(tmp_path / "out") == \
        [json.loads(line) for line in (tmp_path / "out/train.jsonl").read_text().splitlines()]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_circuit_breaker_reprobes_after_the_cooldown():
    clock = _Clock()

    async def go():
        a, b = (EndpointState(url, None, None) for url in ("http://a/v1", "http://b/v1"))
        pool = EndpointPool([a, b], failures_to_open=2, cooldown_s=10, clock=clock)
        for _ in range(2):
            pool.done(await pool.pick(), "failed")      # a (least loaded, listed first) fails twice
        assert a.opened == 1 and a.open_until == 10
        picks = [await pool.pick() for _ in range(3)]   # a is cooling down: all to b, however loaded
        assert picks == [b, b, b]
        for ep in picks:
            pool.done(ep, "ok")
        clock.now = 10.0                                  # cooldown over: one probe goes to a
        probe = await pool.pick()
        assert probe is a and a.probing
        assert await pool.pick() is b                     # only one probe at a time
        pool.done(b, "ok")
        pool.done(a, "failed")                            # the probe failed: cooled down again
        assert a.opened == 2 and a.open_until == 20 and await pool.pick() is b
        pool.done(b, "ok")
        clock.now = 20.0
        probe = await pool.pick()
        pool.done(probe, "ok")                            # the probe answered: a is back
        assert probe is a and a.open_until == 0 and a.failures == 0
        assert [await pool.pick() for _ in range(2)] == [a, b]   # least loaded again

    asyncio.run(go())


def test_the_first_valid_answer_wins_and_the_loser_is_cancelled():
    """The primary answers first but invalidly: with the engine's check, the hedge's valid answer wins; with
    any answer valid, the primary's wins and the hedge is cancelled. (Sleeps only order the copies: timers of
    one event loop fire in deadline order.)"""
    from melt.annotate.hedge import Hedger
    from melt.annotate.limits import EngineLimits

    cancelled = []

    async def send(on_wire, hedge):
        on_wire.set()
        try:
            await asyncio.sleep(0.15 if hedge else 0.05)
        except asyncio.CancelledError:
            cancelled.append(hedge)
            raise
        return "valid" if hedge else "not json"

    async def go(valid):
        hedger = Hedger(EngineLimits(hedge_floor_s=0.01, hedge_max_share=1.0))
        return await hedger.run(send, valid), hedger.hedges

    assert asyncio.run(go(lambda answer: answer == "valid")) == ("valid", 1) and cancelled == []
    assert asyncio.run(go(lambda answer: True)) == ("not json", 1) and cancelled == [True]
