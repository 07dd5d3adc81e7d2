"""melt.compute.runner without Ray: batches are formed in item order before dispatch (so worker processes see the
batches one process sees), items that fail to prepare reach `on_result` as their Failure without reaching the model,
and a model that loses results, or items with one key twice, stop the run."""

from __future__ import annotations

import pytest

from melt.compute.params import ActorResources, ComputeParams
from melt.compute.runner import Failure, ModelSpec, run_model


class BatchEcho:
    """Each result names the batch it was computed in: equal results mean equal batches."""

    fork_safe = True

    def __init__(self, tag: str = ""):
        self.tag = tag

    @staticmethod
    def prepare(item: int):
        return Failure(f"odd item {item}") if item % 7 == 3 else item

    def __call__(self, items: list[int]) -> list[tuple]:
        return [(self.tag, item, tuple(items)) for item in items]


def run(items, actors: int, batch_size: int, cls=BatchEcho) -> dict:
    out: dict = {}
    run_model(ModelSpec(cls, {"tag": "t"}), items, out.__setitem__, ComputeParams(),
              ActorResources(actors=actors, batch_size=batch_size), desc="test", progress=False)
    return out


def test_batches_and_failures_are_the_same_in_one_or_two_processes():
    items = [(f"k{i:02d}", i) for i in range(20)]
    one, two = run(items, 1, 4), run(items, 2, 4)
    assert one == two   # completion order may differ, the contents may not
    # hand-worked: batch 0 holds items 0..3, item 3 failed to prepare, so the model saw (0, 1, 2)
    assert one["k00"] == ("t", 0, (0, 1, 2))
    assert one["k03"] == Failure("odd item 3")
    assert one["k17"] == Failure("odd item 17")
    assert one["k16"] == ("t", 16, (16, 18, 19))
    assert len(one) == 20


class LosesOne(BatchEcho):
    def __call__(self, items):
        return super().__call__(items)[:-1]


def test_a_model_that_loses_a_result_stops_the_run():
    with pytest.raises(RuntimeError, match="LosesOne returned 2 results for 3 items"):
        run([("a", 0), ("b", 1), ("c", 2)], 1, 3, LosesOne)


def test_duplicate_keys_are_refused():
    with pytest.raises(ValueError, match="test: duplicate item keys"):
        run([("a", 0), ("a", 1)], 1, 2)
