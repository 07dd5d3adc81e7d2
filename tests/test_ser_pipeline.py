"""SER stages in the full offline `dvc repro` on the demo; experiments logging to the same MLflow store; the
registry's promises: identical inputs give identical hashes, and `dvc exp show --only-changed` stays readable."""

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
    headline = json.loads((reproduced / "metrics/ser/egemaps.json").read_text())
    assert set(headline) == {"melt", "meld"}
    reports = {}
    for labels in ("melt", "meld"):
        assert set(headline[labels]) == {"test", "acted"}
        reports[labels] = json.loads((reproduced / f"reports/ser/egemaps/{labels}.json").read_text())["scores"]
        own = {s["target"]: s for s in reports[labels] if s["reference"] in (labels, s["target"])}
        assert headline[labels] == {t: {"uar": s["uar"], "f1": s["f1"]} for t, s in own.items()}
        config = json.loads((reproduced / f"models/egemaps/{labels}/config.json").read_text())
        assert config["spec"]["id"] == "egemaps" and config["label_set"] == labels
    table = pd.read_csv(reproduced / "reports/ser/egemaps/table3.csv")
    assert len(table) == 6 and set(table["labels"]) == {"melt", "meld"}
    assert "| egemaps | MELD |" in (reproduced / "reports/ser/egemaps/table3.md").read_text()
    # The demo's acted corpus carries emotion in pitch, loudness and rate, as do the demo sitcom's MELD
    # labels (the offline annotator's MELT labels come from text alone): MELD-trained eGeMAPS is clearly
    # above chance there.
    chance = 1 / len(corpus_classes("acted"))
    assert headline["meld"]["acted"]["uar"] > 1.5 * chance

    runs = {r.data.params["labels"]: r for r in ser_runs(reproduced / "mlflow.db")}
    assert set(runs) == {"melt", "meld"}
    for labels, run_ in runs.items():
        assert run_.data.metrics["acted_uar"] == pytest.approx(headline[labels]["acted"]["uar"])

    wav = sorted((reproduced / "demo/acted").rglob("*_angry.wav"))[0]
    label, probs = predict_emotion(wav, reproduced / "models/egemaps/meld")
    assert label in probs and abs(sum(probs.values()) - 1) < 1e-5

    # every confusion CSV renders through DVC as a plot of the stage
    shown = json.loads(run(["dvc", "plots", "show", "--json"], reproduced).stdout)["data"]
    plotted = {p for p in shown if p.startswith("reports/ser_confusion/egemaps/")}
    assert plotted == {f"reports/ser_confusion/egemaps/{labels}/{name}.csv" for labels in ("melt", "meld")
                       for name in ("test-melt", "test-meld", "acted")}


def committed_copy(reproduced, repo):
    """The reproduced repository with its outputs, as a commit that experiments can branch from (empty when the
    committed outputs are what `dvc repro` wrote, as they should be: test_reproducible.py)."""
    shutil.copytree(reproduced, repo, symlinks=True)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--allow-empty", "-m", "reproduced"], repo)
    return repo


@pytest.mark.slow
def test_exp_run_temp_logs_into_the_same_store_and_exp_show_has_metrics(reproduced, tmp_path):
    """`dvc exp run --temp -S ser.lr=0.01`: its runs land in the repository's MLflow store, and `dvc exp show
    --only-changed` shows the headline metrics and the param, no hash column of an intermediate checkpoint or
    report, in 200 columns."""
    repo = committed_copy(reproduced, tmp_path / "repo")
    run(["dvc", "exp", "run", "--temp", "-n", "lr-test", "-S", "ser.lr=0.01", "ser@egemaps"], repo)
    env_run = dict(__import__("conftest").run_env(), COLUMNS="200")
    table = run(["dvc", "exp", "show", "--only-changed"], repo, env=env_run).stdout
    lines = table.splitlines()
    widest = max(len(line) for line in lines)
    print(f"dvc exp show --only-changed: {len(lines)} lines, widest {widest} columns\n{table}")
    assert widest <= 200, table
    header = next(line for line in lines if "Experiment" in line).split()
    expected = [f"{labels}.{target}.{m}" for labels in ("melt", "meld") for target in ("test", "acted")
                for m in ("uar", "f1")]
    assert header == ["Experiment", "Created", *expected, "ser.lr"], header
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    exps = [r for e in shown for x in (e.get("experiments") or []) for r in x["revs"] if r.get("name") == "lr-test"]
    assert len(exps) == 1
    data = exps[0]["data"]
    assert data["params"]["params.yaml"]["data"]["ser"]["lr"] == 0.01
    metrics = data["metrics"]["metrics/ser/egemaps.json"]["data"]
    assert set(metrics["meld"]["acted"]) == {"uar", "f1"}
    temp_runs = [r for r in ser_runs(repo / "mlflow.db") if r.data.params["dvc_experiment"] == "lr-test"]
    assert {r.data.params["labels"] for r in temp_runs} == {"melt", "meld"}
    assert all(float(r.data.params["lr"]) == 0.01 for r in temp_runs)
    meld_run = next(r for r in temp_runs if r.data.params["labels"] == "meld")
    assert meld_run.data.metrics["acted_uar"] == pytest.approx(metrics["meld"]["acted"]["uar"])
    assert not list((repo / ".dvc" / "tmp" / "exps").rglob("mlflow.db"))  # nothing logged inside the temp copy


@pytest.mark.slow
def test_exp_run_queue_logs_into_the_same_store(reproduced, tmp_path):
    """A queued experiment runs in .dvc/tmp/exps (via a DVC queue worker) and still logs to the repo's mlflow.db."""
    import time

    repo = committed_copy(reproduced, tmp_path / "repo")
    run(["dvc", "exp", "run", "--queue", "-n", "queued-lr", "-S", "ser.lr=0.02", "ser@egemaps"], repo)
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
    assert len(queued) == 2 and all(float(r.data.params["lr"]) == 0.02 for r in queued)
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))  # nothing logged inside the queue's copy
