"""MLflow: one run per trained model in one store shared by `dvc repro` and `dvc exp run --temp/--queue`.

Tracking URI: `ser.mlflow_tracking_uri`, else $MLFLOW_TRACKING_URI, else `sqlite:///<repository root>/mlflow.db`.
The repository root is the *original* repository even inside a DVC experiment: `dvc exp run --temp` and
queued runs execute in `<repo>/.dvc/tmp/exps/...` but DVC sets $DVC_ROOT to the original repository
(measured with DVC 3.67); without $DVC_ROOT, a working directory under `.dvc/tmp/exps` is cut back to the
repository above it, else `git rev-parse --show-toplevel`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def repo_root(cwd: str | Path | None = None) -> Path:
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    start = Path(cwd or os.getcwd()).resolve()
    parts = start.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True,
                             check=True).stdout.strip()
        return Path(top)
    except (OSError, subprocess.CalledProcessError):
        return start


def tracking_uri(configured: str | None = None) -> str:
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def git_revision() -> str:
    """The commit the run starts from (an experiment's baseline inside `dvc exp run`)."""
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        return os.environ["DVC_EXP_BASELINE_REV"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_experiment() -> str:
    """DVC's experiment name, or `workspace` for a plain `dvc repro` / direct run."""
    return os.environ.get("DVC_EXP_NAME") or "workspace"


class Tracker:
    """A thin wrapper over one MLflow run (start, log params/metric history/final metrics, resume)."""

    def __init__(self, uri: str, experiment: str):
        import mlflow

        self.client = mlflow.MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def start(self, name: str, params: dict, tags: dict | None = None) -> str:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags or {})
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return run.info.run_id

    def exists(self, run_id: str | None) -> bool:
        if not run_id:
            return False
        try:
            return self.client.get_run(run_id).info.experiment_id == self.experiment_id
        except Exception:  # MlflowException: unknown run in this store
            return False

    def log_metric(self, run_id: str, key: str, value: float, step: int | None = None) -> None:
        self.client.log_metric(run_id, key, float(value), step=step)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)
