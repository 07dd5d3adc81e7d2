"""Run a model over every item: the one place that picks the engine, forms the batches, writes the results and
shows the progress, for every stage that runs a model or openSMILE over every file (docs/scale.md).

A stage gives a `ModelSpec` (a model class and its constructor arguments) and its items as (key, item) pairs; the
model class has

- `prepare(item) -> item | Failure` (static, optional): CPU work before the model, e.g. decoding the audio; under
  Ray it runs as Ray tasks, apart from the model's actors;
- `__init__(**kwargs)`: loads the model, once per actor or worker process;
- `__call__(items) -> list[result | Failure]`: one result per prepared item, in order.

Engines (`compute.engine`): `local` runs the model in the stage's process, or in `actors` forked worker processes
when the model class runs no torch (`fork_safe = True`: openSMILE); `ray` runs a Ray Data pipeline — `map` tasks for `prepare`, then an actor pool of `actors` model
instances (each asking for `num_cpus`/`num_gpus`), results streamed back to the driver. Ray restarts a lost actor
and retries its in-flight batches, so a killed worker costs only those.

Why the outputs are the same bits on every engine: the batches are formed here, in item order, before any dispatch,
so each model call sees the same items whatever the engine or actor count; every process applies the same
exact-numerics settings (melt.compute.numerics); and only the driver calls `on_result`, which is where the stage
writes its store, so two workers never write one file. Results arrive in completion order; stages build their
outputs from the store in item order, so the order never reaches an output.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from melt.compute.params import ActorResources, ComputeParams


@dataclass(frozen=True)
class Failure:
    """An item the model could not process, with the reason recorded in the stage's output."""

    reason: str


@dataclass(frozen=True)
class ModelSpec:
    """How a worker builds the model: a class importable on every node and its (picklable) constructor arguments."""

    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self, worker: bool = True):
        """The model; in a Ray worker after the exact-numerics settings (local processes have the driver's)."""
        if worker:
            from melt.compute.numerics import configure_worker

            configure_worker()
        return self.cls(**self.kwargs)


Item = tuple[Hashable, Any]
Batch = list[Item]


def batches(items: Sequence[Item], batch_size: int) -> list[Batch]:
    return [list(items[i:i + batch_size]) for i in range(0, len(items), batch_size)]


def prepare_batch(cls: type, batch: Batch) -> Batch:
    prepare = getattr(cls, "prepare", None)
    return batch if prepare is None else [(key, prepare(item)) for key, item in batch]


def call_model(model, prepared: Batch) -> Batch:
    """The model on a batch's prepared items; items that failed to prepare pass through as their Failure."""
    todo = [(key, item) for key, item in prepared if not isinstance(item, Failure)]
    outputs = model([item for _, item in todo]) if todo else []
    if len(outputs) != len(todo):
        raise RuntimeError(f"{type(model).__name__} returned {len(outputs)} results for {len(todo)} items")
    done = {key: out for (key, _), out in zip(todo, outputs)}
    return [(key, item if isinstance(item, Failure) else done[key]) for key, item in prepared]


def run_model(spec: ModelSpec, items: Sequence[Item], on_result: Callable[[Hashable, Any], None],
              compute: ComputeParams, resources: ActorResources, desc: str, progress: bool = True,
              local_model=None) -> int:
    """`on_result(key, result or Failure)` for every item, in this process; returns the number of items run.

    local_model: an instance of `spec` the caller already built (e.g. to fingerprint it), used when the local engine
    runs the model in this process, instead of loading it a second time."""
    if not items:
        return 0
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{desc}: duplicate item keys (each item is computed once)")
    todo = batches(items, resources.batch_size)
    with tqdm(total=len(items), desc=desc, unit="item", disable=not progress) as bar:
        if compute.engine == "ray":
            results = _run_ray(spec, todo, compute, resources)
        else:
            results = _run_local(spec, todo, resources, local_model)
        for done in results:
            for key, result in done:
                on_result(key, result)
            bar.update(len(done))
    return len(items)


# --- local: this process, or forked worker processes ---------------------------------------------------------------

_worker_model = None   # the model of a local worker process, built once by its initializer
_worker_cls: type | None = None


def _init_local_worker(spec: ModelSpec) -> None:
    global _worker_model, _worker_cls
    _worker_model, _worker_cls = spec.build(worker=False), spec.cls


def _local_batch(batch: Batch) -> Batch:
    return call_model(_worker_model, prepare_batch(_worker_cls, batch))


def _run_local(spec: ModelSpec, todo: list[Batch], resources: ActorResources, local_model=None):
    """In this process, or in `actors` forked processes for models that run no torch (`fork_safe`): a fork hangs
    in a child whose parent has run torch's OpenMP pool, and a spawned child would load torch under other numerics
    settings than a driver that has not configured itself. Several torch instances on one machine: `engine: ray`."""
    if resources.actors == 1 or len(todo) == 1 or not getattr(spec.cls, "fork_safe", False) or os.name != "posix":
        model = local_model if local_model is not None else spec.build(worker=False)
        for batch in todo:
            yield call_model(model, prepare_batch(spec.cls, batch))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork: the workers start with the driver's imports (openSMILE takes ~1 s) and environment.
    with ProcessPoolExecutor(max_workers=min(resources.actors, len(todo)), mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_local_worker, initargs=(spec,)) as pool:
        for future in as_completed([pool.submit(_local_batch, batch) for batch in todo]):
            yield future.result()


# --- ray: a Ray Data pipeline, prepare as tasks, the model as an actor pool ----------------------------------------

def _prepare_row(row: dict, cls: type) -> dict:
    return {"batch": pickle.dumps(prepare_batch(cls, pickle.loads(row["batch"])))}


class _ModelActor:
    """One model instance in a Ray actor, loaded once; batches in, results out (pickled: any shape, any type)."""

    def __init__(self, spec: ModelSpec):
        self.model = spec.build()

    def __call__(self, row: dict) -> dict:
        return {"results": pickle.dumps(call_model(self.model, pickle.loads(row["batch"])))}


def _run_ray(spec: ModelSpec, todo: list[Batch], compute: ComputeParams, resources: ActorResources):
    import ray.data

    from melt.compute.cluster import connect

    connect(compute.ray_address)
    ray.data.DataContext.get_current().enable_progress_bars = False   # one bar: run_model's
    # One row per batch, one block per row: the batches stay as formed here, and spread over the actors.
    rows = [{"batch": pickle.dumps(batch)} for batch in todo]
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    if hasattr(spec.cls, "prepare"):
        ds = ds.map(_prepare_row, fn_kwargs={"cls": spec.cls}, num_cpus=1)
    ds = ds.map(_ModelActor, fn_constructor_kwargs={"spec": spec},
                compute=ray.data.ActorPoolStrategy(size=resources.actors),
                num_cpus=resources.num_cpus, num_gpus=resources.num_gpus)
    for row in ds.iter_rows():
        yield pickle.loads(row["results"])
