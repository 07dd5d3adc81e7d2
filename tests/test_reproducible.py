"""Identical inputs, identical hashes: a fresh copy of the repository reproduces the committed outputs, on this
machine's kernels and on another instruction set, and the declared metrics stay a readable comparison surface."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import yaml

from conftest import REPO, copy_repo, run, run_env

MAX_HEADLINE_METRICS = 40
# The annotation engine's run counters (sent, from the store, hedges): statistics of a run, not headlines to compare.
RUN_STATISTICS = {"metrics/annotate.json"}


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


def other_machine_env() -> dict:
    """run_env() as on another CPU with another core count: kernels for another instruction set (AVX2 where this
    machine has AVX-512, else ATen's portable set) in ATen, MKL and oneDNN, and 3 threads."""
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    here = run([sys.executable, "-c", probe], REPO).stdout.strip()
    return run_env() | {"ATEN_CPU_CAPABILITY": "avx2" if here == "AVX512" else "default",
                        "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "3",
                        "MKL_NUM_THREADS": "3"}


# The stages whose script calls melt.reproducible.configure_torch(): the only code the instruction-set environment
# reaches (openSMILE, the annotation engine and pandas stages read none of it).
TORCH_STAGES = ("features", "ser", "transcribe", "pseudolabel", "pretrain_text", "erc_embed", "erc_train",
                "erc_evaluate")


@pytest.mark.slow
@pytest.mark.runs_first
@pytest.mark.timeout(1200)   # the torch stages once more: ~1.5 min idle, far more on a busy shared machine
def test_a_fresh_copy_on_another_instruction_set_gives_identical_hashes(reproduced, tmp_path):
    """`reproduced` ran with this machine's own kernels; a copy re-runs every torch stage as on another CPU, then
    whatever that made stale (without melt.reproducible, pretrain_text's loss curve parts at epoch 7 and everything
    downstream differs)."""
    env = other_machine_env()
    other = tmp_path / "other"
    shutil.copytree(reproduced, other, symlinks=True)
    first = output_hashes(reproduced)
    forced = [stage for stage in yaml.safe_load((other / "dvc.lock").read_text(encoding="utf-8"))["stages"]
              if stage.split("@")[0] in TORCH_STAGES]   # dvc.lock lists stages in pipeline order
    assert {s.split("@")[0] for s in forced} == set(TORCH_STAGES)
    out = run(["dvc", "repro", "--force", "--single-item", *forced], other, env=env, timeout=1200).stdout
    assert all(f"Running stage '{stage}'" in out for stage in forced), out
    run(["dvc", "repro"], other, env=env, timeout=1200)
    second = output_hashes(other)
    assert set(first) == set(second)
    differing = sorted(k for k in first if first[k] != second[k])
    assert not differing, f"outputs whose hash changed on another instruction set ({env['ATEN_CPU_CAPABILITY']}): {differing}"


def test_a_fresh_clone_reproduces_the_committed_outputs(reproduced):
    """`reproduced` is a fresh copy of this tree after `dvc repro`: dvc.lock, metrics/ and reports/ are what it
    committed (metrics/annotate.json included: a fresh clone's store is empty, so it sends every request)."""
    status = run(["git", "status", "--porcelain"], reproduced).stdout
    assert status == "", (f"a fresh clone's `dvc repro` changed committed files (regenerate them from a fresh clone, "
                          f"docs/registry.md):\n{status}{run(['git', 'diff', '--stat'], reproduced).stdout}")


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
    run_statistics = RUN_STATISTICS
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
