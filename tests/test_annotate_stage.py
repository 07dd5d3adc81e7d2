"""The annotate stage as a process: kill -9 and resume, the API-key canary, reverts at zero cost, the pipeline."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from annotate_helpers import TEMPLATES, one_annotator, read_annotations, set_params, tiny_meld, write_prepared
from conftest import REPO, copy_repo, run, run_env
from llm_server import Faults, LLMServer
from melt.annotate.params import AnnotateParams, PromptsParams
from melt.annotate.requests import write_prompts
from melt.annotate.store import AnswerStore
from melt.data.labels import EMOTIONS

STAGE = REPO / "stages" / "annotate.py"


def test_kill_9_then_rerun_keeps_every_completed_answer(tmp_path):
    n, concurrency = 40, 4
    with LLMServer(Faults(latency_s=0.15)) as srv:
        section = one_annotator(backend="openai", base_url=srv.base_url, concurrency=concurrency, rpm=60_000,
                                tpm=10_000_000, timeout_s=5, max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05)
        write_prompts(write_prepared(tmp_path, n), tmp_path / "data/prompts", PromptsParams(),
                      AnnotateParams(**section), templates_dir=TEMPLATES)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"annotate": section}))
        proc = subprocess.Popen([sys.executable, str(STAGE)], cwd=tmp_path, env=run_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while sum(srv.answered.values()) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first_requests = srv.chat_requests
        cached = len(AnswerStore(tmp_path / "cache/llm-store"))   # no git here: the store is under the cwd
        assert 15 - concurrency <= cached < n and first_requests < n   # answers on the wire at the kill are lost
        run([sys.executable, str(STAGE)], tmp_path)
        second_requests = srv.chat_requests - first_requests
        repeats = sum(c - 1 for c in srv.seen.values() if c > 1)
    assert second_requests == n - cached          # only the requests not completed before the kill
    assert repeats <= concurrency                 # in flight at the kill: asked again
    assert len(srv.seen) == n
    recs = read_annotations(tmp_path / "data/annotations/llm")
    assert len(recs) == n and all(r["status"] == "ok" for r in recs)


@pytest.mark.slow
def test_dvc_canary_and_revert_costs_nothing(tmp_path):
    canary = "sk-canary-" + secrets.token_hex(12)   # random: no file of the copy holds it beforehand
    repo = copy_repo(tmp_path / "repo")
    meld = tiny_meld(tmp_path / "meld")
    env = {**run_env(), "OPENAI_API_KEY": canary}
    with LLMServer(Faults(latency_s=0.01)) as srv:
        set_params(repo, data={"source": "meld", "meld_dir": str(meld)}, prepare={"min_speaker_utterances": 1},
                   annotate=one_annotator(backend="openai", base_url=srv.base_url, concurrency=4))
        run(["dvc", "repro", "annotate"], repo, env=env)
        after_first = srv.chat_requests
        assert after_first == 15 and f"Bearer {canary}" in srv.authorizations
        original_show = yaml.safe_load((repo / "params.yaml").read_text())["prompts"]["show"]
        set_params(repo, prompts={"show": "Other Show"})
        run(["dvc", "repro", "annotate"], repo, env=env)
        after_second = srv.chat_requests
        assert after_second == 30
        set_params(repo, prompts={"show": original_show})   # revert: every answer is in the cache
        run(["dvc", "repro", "annotate"], repo, env=env)
        assert srv.chat_requests == after_second
        assert json.loads((repo / "metrics/annotate.json").read_text())["cache_hits"] == 15
        assert json.loads((repo / "metrics/annotate.json").read_text())["requests_sent"] == 0
        assert "up to date" in run(["dvc", "status", "annotate"], repo, env=env).stdout.lower()
    hits = [p for p in repo.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert hits == []
    assert (repo / "dvc.lock").is_file() and any((repo / ".dvc/cache").rglob("*"))
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert "cache/llm" in {o["path"] for o in lock["stages"]["annotate"]["outs"]}   # versioned by DVC


def test_pipeline_annotations_on_demo(reproduced):
    """The demo panel: both offline annotators answer every prepared row (the demo's clips are all usable), each
    into its own folder; one snapshot holds every answer used, the one store also the pseudolabel stage's."""
    metrics = json.loads((reproduced / "metrics/annotate.json").read_text())
    report = json.loads((reproduced / "reports/annotate.json").read_text())
    assert set(metrics) == {"requests", "failed", "cost_usd", "requests_sent", "cache_hits", "hedges"}   # headlines only
    models = {"text_heuristic": "offline-heuristic-v1", "audio_heuristic": "offline-audio-arousal-v1"}
    assert {n: (a["backend"], a["model"], a["heuristic_baseline"]) for n, a in report["annotators"].items()} == \
        {n: ("offline", m, True) for n, m in models.items()}
    total = 0
    for split in ("train", "dev", "test"):
        prepared = pd.read_csv(reproduced / f"data/prepared/{split}.csv")
        for name in models:
            recs = read_annotations(reproduced / "data/annotations" / name, split)
            prompts = (reproduced / f"data/prompts/{name}/{split}.jsonl").read_text().splitlines()
            assert len(recs) == len(prepared) == len(prompts)
            assert [(r["dialogue_id"], r["utterance_id"]) for r in recs] == \
                list(zip(prepared["dialogue_id"], prepared["utterance_id"]))
            assert all(r["status"] == "ok" and r["label"] in EMOTIONS and r["model"] == models[name] for r in recs)
        total += len(prepared)
    assert metrics["requests"] == 2 * total and metrics["failed"] == 0
    assert report["requests"] == 2 * total
    assert report["status"] == {"ok": 2 * total, "invalid": 0, "failed": 0, "excluded": 0}
    snapshot = b"".join(p.read_bytes() for p in sorted((reproduced / "cache/llm").glob("*.jsonl")))
    assert len(snapshot.splitlines()) == report["answers"] == 2 * total   # one answer per request, nothing else
    # one store per repository: it also holds the pseudolabel stage's answers (its own snapshot), nothing else
    pseudolabels = sum(len(p.read_bytes().splitlines())
                       for p in (reproduced / "data/pseudolabels").glob("*_answers/*.jsonl"))
    assert len(AnswerStore(reproduced / "cache/llm-store")) == 2 * total + pseudolabels
