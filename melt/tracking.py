"""MLflow for every trained model (SER, text pre-training, ERC): one run per model, in one store shared by
`dvc repro` and `dvc exp run --temp/--queue`.

Tracking URI: the section's `mlflow_tracking_uri`, else $MLFLOW_TRACKING_URI, else
`sqlite:///<repository root>/mlflow.db`. The repository root is the *original* repository even inside a DVC
experiment (melt.repo.repo_root), so runs of experiments that are never applied stay visible.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from melt.io import TEMP_PREFIX, sha256_file
from melt.repo import repo_root

# The tag on a training run that holds its checkpoint's content hash: how evaluation finds the run of a checkpoint.
CHECKPOINT_TAG = "checkpoint_sha256"


def tracking_uri(configured: str | None = None) -> str:
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def checkpoint_sha256(model_dir: str | Path) -> str:
    """Content hash of a checkpoint folder: every file's relative path and bytes (temp files ignored)."""
    root = Path(model_dir)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(TEMP_PREFIX)):
        h.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


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

    def find_run(self, tag: str, value: str, prefer: dict[str, str] | None = None) -> str | None:
        """The newest finished run tagged `tag = value`; among several, one whose params match `prefer`
        (e.g. the same DVC experiment) wins."""
        runs = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{tag}` = '{value}'",
                                       order_by=["attributes.start_time DESC"])
        runs = [r for r in runs if r.info.status == "FINISHED"]
        preferred = [r for r in runs if all(r.data.params.get(k) == v for k, v in (prefer or {}).items())]
        chosen = preferred or runs
        return chosen[0].info.run_id if chosen else None

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def log_metric(self, run_id: str, key: str, value: float, step: int | None = None) -> None:
        self.client.log_metric(run_id, key, float(value), step=step)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)
