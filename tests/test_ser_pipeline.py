"""SER stages in the full offline `dvc repro` on the demo, and a `dvc exp run --temp` logging to the same MLflow store."""

from __future__ import annotations

import json
import shutil

import mlflow
import pandas as pd
import pytest

from conftest import run
from melt.data.corpora import corpus_classes
from melt.ser.predict import predict_emotion


def ser_runs(store):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("melt-ser")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def test_repro_writes_ser_metrics_table_and_checkpoints(reproduced):
    scores = {}
    for labels in ("melt", "meld"):
        path = reproduced / f"metrics/ser/egemaps_{labels}.json"
        scores[labels] = json.loads(path.read_text())
        assert set(scores[labels]) == {"test", "acted"}
        for target in scores[labels].values():
            assert set(target) == {"uar", "acc", "f1"} and all(0 <= v <= 1 for v in target.values())
        config = json.loads((reproduced / f"models/egemaps/{labels}/config.json").read_text())
        assert config["spec"]["id"] == "egemaps" and config["label_set"] == labels
    table = pd.read_csv(reproduced / "metrics/ser_table.csv")
    assert len(table) == 4 and set(table["labels"]) == {"melt", "meld"}
    assert "| egemaps | MELD |" in (reproduced / "metrics/ser_table.md").read_text()
    # The demo's acted corpus carries emotion in pitch, loudness and rate, as do the demo sitcom's MELD
    # labels (the offline annotator's MELT labels come from text alone): MELD-trained eGeMAPS is clearly
    # above chance there.
    chance = 1 / len(corpus_classes("acted"))
    assert scores["meld"]["acted"]["uar"] > 1.5 * chance

    runs = {r.data.params["labels"]: r for r in ser_runs(reproduced / "mlflow.db")}
    assert set(runs) == {"melt", "meld"}
    for labels, run_ in runs.items():
        assert run_.data.metrics["acted_uar"] == pytest.approx(scores[labels]["acted"]["uar"])

    wav = sorted((reproduced / "demo/acted").rglob("*_angry.wav"))[0]
    label, probs = predict_emotion(wav, reproduced / "models/egemaps/meld")
    assert label in probs and abs(sum(probs.values()) - 1) < 1e-5


def committed_copy(reproduced, repo):
    """The reproduced repository with its outputs, as a commit that experiments can branch from."""
    shutil.copytree(reproduced, repo, symlinks=True)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "reproduced"], repo)
    return repo


def test_exp_run_temp_logs_into_the_same_store_and_exp_show_has_metrics(reproduced, tmp_path):
    repo = committed_copy(reproduced, tmp_path / "repo")
    run(["dvc", "exp", "run", "--temp", "-n", "lr-test", "-S", "ser.lr=0.01", "evaluate@egemaps-meld"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    exps = [r for e in shown for x in (e.get("experiments") or []) for r in x["revs"] if r.get("name") == "lr-test"]
    assert len(exps) == 1
    data = exps[0]["data"]
    assert data["params"]["params.yaml"]["data"]["ser"]["lr"] == 0.01
    metrics = data["metrics"]["metrics/ser/egemaps_meld.json"]["data"]
    assert set(metrics["acted"]) == {"uar", "acc", "f1"}
    temp_runs = [r for r in ser_runs(repo / "mlflow.db") if r.data.params["dvc_experiment"] == "lr-test"]
    assert len(temp_runs) == 1 and float(temp_runs[0].data.params["lr"]) == 0.01
    assert temp_runs[0].data.metrics["acted_uar"] == pytest.approx(metrics["acted"]["uar"])
    assert not list((repo / ".dvc" / "tmp" / "exps").rglob("mlflow.db"))  # nothing logged inside the temp copy


def test_exp_run_queue_logs_into_the_same_store(reproduced, tmp_path):
    """A queued experiment runs in .dvc/tmp/exps (via a DVC queue worker) and still logs to the repo's mlflow.db."""
    import time

    repo = committed_copy(reproduced, tmp_path / "repo")
    run(["dvc", "exp", "run", "--queue", "-n", "queued-lr", "-S", "ser.lr=0.02", "evaluate@egemaps-meld"], repo)
    try:
        run(["dvc", "queue", "start", "-j", "1"], repo)
        deadline = time.monotonic() + 240
        while True:
            status = run(["dvc", "queue", "status"], repo).stdout
            if "queued-lr" in status and not any(s in status for s in ("Queued", "Running")):
                break
            assert time.monotonic() < deadline, f"queued experiment did not finish:\n{status}"
            time.sleep(2)
    finally:
        run(["dvc", "queue", "stop", "--kill"], repo)
    assert "Success" in status, status
    queued = [r for r in ser_runs(repo / "mlflow.db") if r.data.params["dvc_experiment"] == "queued-lr"]
    assert len(queued) == 1 and float(queued[0].data.params["lr"]) == 0.02
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))  # nothing logged inside the queue's copy
