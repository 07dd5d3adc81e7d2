"""Queued experiments (`dvc exp run --queue` + `dvc queue start -j 2`) share the repository's answer store.

Real DVC queue workers, real HTTP to the loopback server (counted on the server side by request seed:
each experiment differs in `annotate.annotators.llm.seed`). Experiments are never applied; the workspace then runs
each params set and pays only for what no experiment had bought."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from annotate_helpers import SPLIT_SIZES, one_annotator, set_params, tiny_meld, tiny_meld_params
from conftest import copy_repo, run, run_env
from llm_server import Faults, LLMServer

N = sum(SPLIT_SIZES.values())
pytestmark = pytest.mark.slow   # DVC queue workers start and run four experiments


def queued_repo(tmp_path: Path, srv: LLMServer) -> Path:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, **tiny_meld_params(tiny_meld(tmp_path / "meld")),
               annotate=one_annotator(backend="openai", base_url=srv.base_url, concurrency=2))
    run(["git", "commit", "-q", "-am", "tiny corpus, loopback server"], repo)
    return repo


def run_queue(repo: Path, names: list[str], on_tick=None, timeout_s: float = 300) -> str:
    """Start two workers; wait until every named experiment is done; return the final `dvc queue status`."""
    # `dvc queue start` returns only when its workers exit (they hold its output): do not wait for it here.
    with open(repo.parent / "queue-start.log", "wb") as log:
        starter = subprocess.Popen(["dvc", "queue", "start", "-j", "2"], cwd=repo, env=run_env(), stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if on_tick:
                on_tick()
            status = run(["dvc", "queue", "status"], repo).stdout
            rows = [line for line in status.splitlines() if any(n in line for n in names)]
            if len(rows) == len(names) and not any(s in row for row in rows for s in ("Queued", "Running")):
                return status
            assert time.monotonic() < deadline, f"queued experiments did not finish:\n{status}"
            time.sleep(0.5)
    finally:
        run(["dvc", "queue", "stop", "--kill"], repo)
        starter.wait(timeout=60)


def workspace_run(repo: Path, seed: int) -> dict:
    run(["dvc", "exp", "run", "-S", f"annotate.annotators.llm.seed={seed}", "annotate"], repo)
    return json.loads((repo / "metrics/annotate.json").read_text())


def _exp_processes(name: str) -> list[int]:
    """Pids of the Python processes running `stages/annotate.py` that DVC started for experiment `name` (found by its
    environment). The `sh -c` wrapper DVC may start around it (some shells do not exec the last command) is left out."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        is_python = b"python" in Path(argv[0].decode(errors="replace")).name.encode()
        if is_python and any(b"stages/annotate.py" in a for a in argv) and f"DVC_EXP_NAME={name}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def _stored_answers(repo: Path, seed: int) -> int:
    """Answers in the repository's store that the server gave to requests with `seed` (its answers name it)."""
    marker = f"(seed {seed})".encode()
    return sum(p.read_bytes().count(marker) for p in (repo / "cache/llm-store").glob("*.jsonl"))


def test_queued_runs_pay_once_and_a_killed_one_loses_nothing_it_was_answered(tmp_path):
    """One queue of four experiments (`-j 2`; one queue start, one copy of the repository: the workers' start-up
    is most of the cost). seed 1 and 2: each bought once, never applied; the workspace then runs both params
    sets for 0 requests. seed 3 is answered 6 times, then its requests hang; its annotate process is killed with
    SIGKILL once the 6 answers are in the store. The workspace then sends exactly the 9 requests never
    answered, and seed 4's experiment (run beside it) costs it nothing."""
    answered_before_kill = 6
    with LLMServer(Faults(hold_seed=3, hold_after=answered_before_kill)) as srv:
        repo = queued_repo(tmp_path, srv)
        for seed in (1, 2, 3, 4):
            run(["dvc", "exp", "run", "--queue", "-n", f"seed{seed}", "-S", f"annotate.annotators.llm.seed={seed}",
                 "annotate"], repo)
        killed = []

        def kill_when_answered():
            if not killed and _stored_answers(repo, 3) == answered_before_kill:
                pids = _exp_processes("seed3")
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed.extend(pids)

        status = run_queue(repo, ["seed1", "seed2", "seed3", "seed4"], on_tick=kill_when_answered, timeout_s=480)
        line = {name: next(row for row in status.splitlines() if name in row) for name in ("seed1", "seed2", "seed3",
                                                                                           "seed4")}
        assert len(killed) == 1, status
        assert "Failed" in line["seed3"] and all("Success" in line[n] for n in ("seed1", "seed2", "seed4")), status
        assert srv.by_seed[1] == N and srv.by_seed[2] == N and srv.by_seed[4] == N   # each bought once
        assert not (repo / "data/annotations").exists()   # never applied
        stored = _stored_answers(repo, 3)
        assert stored == answered_before_kill == srv.answered_by_seed[3]
        srv.faults.hold_seed = None   # the server answers everything from now on
        before = srv.chat_requests

        for seed in (1, 2, 4):
            metrics = workspace_run(repo, seed)
            assert metrics["requests_sent"] == 0 and metrics["cache_hits"] == N
        assert srv.chat_requests == before   # 0 requests reached the server from the workspace
        metrics = workspace_run(repo, 3)
        assert srv.chat_requests - before == N - stored == metrics["requests_sent"]   # exactly the unanswered
        assert metrics["cache_hits"] == stored
        assert all(count == 1 for count in srv.answered.values())   # no request was answered (paid) twice
