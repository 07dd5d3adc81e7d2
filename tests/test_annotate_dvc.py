"""`dvc repro` through `annotate` in copies of the repository: every backend, every DVC cache.type, a fresh clone.

Tiny MELD-format corpus (15 rows); the loopback OpenAI-compatible server for the network backends."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from annotate_helpers import SPLIT_SIZES, one_annotator, read_annotations, set_params, tiny_meld, tiny_meld_params
from conftest import copy_repo, run
from llm_server import Faults, LLMServer
from melt.annotate.store import AnswerStore
from melt.data.labels import EMOTIONS

N = sum(SPLIT_SIZES.values())
pytestmark = pytest.mark.slow   # each test runs `dvc repro` several times in its own copy


def tiny_repo(tmp_path: Path, **sections) -> Path:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, **tiny_meld_params(tiny_meld(tmp_path / "meld")), **sections)
    return repo


def snapshot_records(repo: Path) -> list[bytes]:
    return b"".join(p.read_bytes() for p in sorted((repo / "cache/llm").glob("*.jsonl"))).splitlines()


def assert_annotated(repo: Path, backend: str) -> dict:
    """The stage's declared outputs exist, DVC sees the stage up to date, and the records match the report
    (a panel of one annotator, `llm`); returns the annotator's report."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["annotate"]
    assert {o["path"] for o in lock["outs"]} == {"data/annotations", "cache/llm", "reports/annotate.json",
                                                 "metrics/annotate.json"}
    assert "up to date" in run(["dvc", "status", "annotate"], repo).stdout.lower()
    report = json.loads((repo / "reports/annotate.json").read_text())
    assert list(report["annotators"]) == ["llm"] and report["requests"] == N
    mine = report["annotators"]["llm"]
    assert mine["backend"] == backend and mine["requests"] == N
    for split, n in SPLIT_SIZES.items():
        recs = read_annotations(repo / "data/annotations/llm", split)
        assert len(recs) == n and mine["splits"][split]["ok"] == sum(r["status"] == "ok" for r in recs)
    assert sorted(p.name for p in (repo / "data/annotations").iterdir()) == ["llm", "panel.json"]
    assert len(snapshot_records(repo)) == report["answers"]
    return mine


def test_every_backend_satisfies_the_stage_outputs(tmp_path):
    """labels-file first, on a fresh copy that never had cache/llm (the bug: 'output cache/llm does not exist')."""
    repo = tiny_repo(tmp_path)
    files = {}
    for split in ("train", "test"):   # released MELT files exist for train and test only
        n = SPLIT_SIZES[split]
        files[split] = tmp_path / f"MELT_{split}.csv"
        pd.DataFrame({"filename": [f"dia{i}_utt0.wav" for i in range(n)], "Dialogue_ID": range(n),
                      "Utterance_ID": [0] * n, "llm_label": [EMOTIONS[i % 7] for i in range(n)]}).to_csv(files[split])
    set_params(repo, annotate=one_annotator(backend="labels-file", labels_files={s: str(p) for s, p in files.items()}))
    run(["dvc", "repro", "annotate"], repo)
    report = assert_annotated(repo, "labels-file")
    assert report["status"] == {"ok": 13, "invalid": 0, "failed": 2, "excluded": 0}
    assert json.loads((repo / "reports/annotate.json").read_text())["answers"] == 0
    dev = read_annotations(repo / "data/annotations/llm", "dev")
    assert all(r["status"] == "failed" and "no labels file for split 'dev'" in r["error"] for r in dev)
    assert (repo / "cache/llm").is_dir() and not any((repo / "cache/llm").iterdir())

    set_params(repo, annotate=one_annotator(backend="offline"))
    run(["dvc", "repro", "annotate"], repo)
    assert assert_annotated(repo, "offline")["status"]["ok"] == N

    with LLMServer(Faults(batch_delay_s=0.1)) as srv:
        set_params(repo, annotate=one_annotator(backend="openai", base_url=srv.base_url, concurrency=4))
        run(["dvc", "repro", "annotate"], repo)
        assert assert_annotated(repo, "openai")["status"]["ok"] == N and srv.chat_requests == N
        set_params(repo, annotate={**one_annotator(backend="openai-batch", base_url=srv.base_url, seed=7),
                                   "batch_poll_s": 0.05})   # new keys
        run(["dvc", "repro", "annotate"], repo)
        assert assert_annotated(repo, "openai-batch")["status"]["ok"] == N
        assert srv.batches_created == 1 and srv.chat_requests == N
    assert len(AnswerStore(repo / "cache/llm-store")) == 3 * N   # offline, openai and batch answers, kept


def dvc_cache_objects(repo: Path) -> dict[str, str]:
    """Every object in DVC's cache → md5 of its bytes (DVC names objects by that md5)."""
    objects = {}
    for path in (repo / ".dvc/cache/files/md5").rglob("*"):
        if path.is_file():
            objects[str(path.relative_to(repo))] = hashlib.md5(path.read_bytes()).hexdigest()
    return objects


# copy (the default reflink,copy falls back to it on this filesystem) is what every other DVC test uses
@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_any_dvc_cache_type_leaves_dvc_cache_intact(tmp_path, mode):
    """The default panel: the text heuristic answers; the audio heuristic records every row excluded (the tiny
    corpus has no audio), so only text answers reach the store and the snapshot."""
    repo = tiny_repo(tmp_path)
    run(["dvc", "config", "cache.type", mode], repo)
    run(["dvc", "repro", "annotate"], repo)
    shard = next((repo / "cache/llm").glob("*.jsonl"))
    if mode == "symlink":
        assert shard.is_symlink()       # DVC linked the snapshot into its cache...
    if mode == "hardlink":
        assert shard.stat().st_nlink == 2
    before = dvc_cache_objects(repo)
    for show in ("Another Show", "Quince Street"):   # ...and the next runs replace those links
        set_params(repo, prompts={"show": show})
        run(["dvc", "repro", "annotate"], repo)
        assert "up to date" in run(["dvc", "status", "annotate"], repo).stdout.lower()
    after = dvc_cache_objects(repo)
    assert {k: after[k] for k in before} == before                           # no object was modified
    for rel, digest in after.items():                                        # every object still is its name
        assert rel.replace("/", "").endswith(digest) or rel.endswith(".dir") and digest in rel.replace("/", "")
    for path in (repo / "cache/llm-store").glob("*.jsonl"):
        assert not path.is_symlink() and path.stat().st_nlink == 1         # the store is never DVC's
    assert len(snapshot_records(repo)) == N and len(AnswerStore(repo / "cache/llm-store")) == 2 * N


def test_fresh_clone_imports_the_pulled_snapshot_before_asking(tmp_path):
    """git clone + dvc pull + changed params: the snapshot's answers seed the clone's store, none bought twice."""
    origin = tiny_repo(tmp_path)
    run(["dvc", "remote", "add", "-d", "local", str(tmp_path / "remote")], origin)
    with LLMServer() as srv:
        llm = dict(backend="openai", base_url=srv.base_url, concurrency=4)
        set_params(origin, annotate=one_annotator(**llm))
        run(["dvc", "repro", "annotate"], origin)
        run(["git", "add", "-A"], origin)
        run(["git", "commit", "-q", "-m", "annotated"], origin)
        run(["dvc", "push"], origin)
        assert srv.chat_requests == N

        clone = tmp_path / "clone"
        run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
        run(["dvc", "pull", "--with-deps", "annotate"], clone)
        assert not (clone / "cache/llm-store").exists() and len(snapshot_records(clone)) == N
        set_params(clone, annotate=one_annotator(**llm, samples=2))   # sample 0 keys unchanged, sample 1 new
        out = run(["dvc", "repro", "annotate"], clone).stdout
        assert srv.chat_requests == 2 * N   # only the N new requests
        metrics = json.loads((clone / "metrics/annotate.json").read_text())
        assert metrics["cache_hits"] == N and metrics["requests_sent"] == N
    assert '"imported_from_snapshot": 15' in out
    assert len(AnswerStore(clone / "cache/llm-store")) == 2 * N and len(snapshot_records(clone)) == 2 * N


def _out_hashes(repo: Path) -> dict[str, str]:
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for name in ("prompts", "annotate") for o in stages[name]["outs"]}


def test_identical_inputs_give_identical_outputs(tmp_path):
    """Two fresh copies, the first run twice (the second time from clean, answers from its store): prompts,
    annotations, snapshot and report hash the same; only this run's counters (metrics) differ. The answers
    come over HTTP, so each copy's purchase has its own latencies (kept in the store, not in the outputs)."""
    with LLMServer(Faults(latency_s=0.02)) as srv:
        annotate = one_annotator(backend="openai", base_url=srv.base_url, concurrency=3)
        first, second = tiny_repo(tmp_path / "a", annotate=annotate), tiny_repo(tmp_path / "b", annotate=annotate)
        run(["dvc", "repro", "annotate"], first)
        once = _out_hashes(first)
        metrics_once = json.loads((first / "metrics/annotate.json").read_text())
        for out in ("data/prompts", "data/annotations", "cache/llm", "reports", "metrics/annotate.json"):
            path = first / out
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        run(["dvc", "repro", "annotate"], first)
        twice = _out_hashes(first)
        metrics_twice = json.loads((first / "metrics/annotate.json").read_text())
        run(["dvc", "repro", "annotate"], second)
        assert srv.chat_requests == 2 * N   # the second copy bought its own answers
    assert metrics_once["requests_sent"] == N and metrics_twice == {**metrics_once, "requests_sent": 0, "cache_hits": N, "cost_usd": 0.0}
    other = _out_hashes(second)
    for path in once:
        if path != "metrics/annotate.json":
            assert once[path] == twice[path] == other[path], path
