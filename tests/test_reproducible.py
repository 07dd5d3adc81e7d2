"""Identical inputs, identical hashes: fresh copies of the repository reproduce byte-identical DVC outputs,
and the declared metrics stay a readable comparison surface."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import copy_repo, run

# Run statistics of the annotation engine (answers from the store vs sent) depend on what the store held,
# by design; they live in a metrics file that no stage depends on.
RUN_STATISTICS = {("annotate", "metrics/annotate.json")}
MAX_HEADLINE_METRICS = 40


def output_hashes(repo) -> dict[tuple[str, str], str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    return {(stage, out["path"]): out["md5"] for stage, spec in lock["stages"].items()
            for out in spec.get("outs", [])}


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{prefix}.{i}")
    else:
        yield prefix


@pytest.mark.slow
@pytest.mark.runs_first
def test_two_runs_from_clean_and_a_second_clone_give_identical_hashes(reproduced, tmp_path):
    first = output_hashes(reproduced)

    again = tmp_path / "again"   # the same clone, every untracked file removed (outputs, stores, DVC cache)
    shutil.copytree(reproduced, again, symlinks=True)
    run(["git", "clean", "-fdxq"], again)
    run(["dvc", "repro"], again)
    second = output_hashes(again)

    other = copy_repo(tmp_path / "other")
    run(["dvc", "repro"], other)
    third = output_hashes(other)

    assert set(first) == set(second) == set(third)
    differing = sorted(k for k in first if k not in RUN_STATISTICS and not (first[k] == second[k] == third[k]))
    assert not differing, f"outputs whose hash changed between identical runs: {differing}"


def test_forced_feature_extraction_with_nothing_new_reruns_nothing_downstream(reproduced, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    before = output_hashes(repo)
    out = run(["dvc", "repro", "-f", "features@egemaps"], repo).stdout
    assert "Running stage 'features@egemaps'" in out
    assert output_hashes(repo) == before
    assert "up to date" in run(["dvc", "status"], repo).stdout.lower()


def test_declared_metrics_are_headline_scalars(reproduced):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], reproduced).stdout)
    files = next(iter(shown.values()))["data"]
    run_statistics = {path for _, path in RUN_STATISTICS}   # the annotate run's counters: not headlines
    keys = [f"{path}:{leaf}" for path, m in files.items() if path not in run_statistics
            for leaf in _leaves(m.get("data", {}))]
    print(f"{len(keys)} headline metrics in {len(files)} files (+ run statistics {sorted(run_statistics)})")
    assert len(keys) <= MAX_HEADLINE_METRICS, keys
    for path, m in files.items():
        for value in _flat_values(m.get("data", {})):
            assert value is None or isinstance(value, (int, float)), f"{path}: non-scalar metric {value!r}"


def _flat_values(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _flat_values(v)
    elif isinstance(obj, list):
        yield obj   # a list is not a headline scalar
    else:
        yield obj
