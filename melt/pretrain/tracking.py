"""MLflow for text pre-training: one run per model, in the store every run and `dvc exp` shares.

Tracking URI: `text.mlflow_tracking_uri`, else $MLFLOW_TRACKING_URI, else `sqlite:///<repository root>/mlflow.db`
(the original repository even inside `dvc exp run --temp/--queue`: melt.repo.repo_root). A small local
equivalent of melt.ser.tracking, so that this concern does not import the SER package.
"""

from __future__ import annotations

import os
import time

from melt.repo import repo_root


def tracking_uri(configured: str | None = None) -> str:
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


class Run:
    """start → log_epoch … → finish(metrics); the run id stays in MLflow (never in a DVC output)."""

    def __init__(self, uri: str, experiment: str, name: str, params: dict):
        import mlflow
        from mlflow.entities import Param

        self.client = mlflow.MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        tags = {"dvc_experiment": os.environ.get("DVC_EXP_NAME") or "workspace"}
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])

    def log_epoch(self, epoch: int, loss: float) -> None:
        self.client.log_metric(self.run_id, "loss", float(loss), step=epoch)

    def finish(self, metrics: dict[str, float], status: str = "FINISHED") -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        self.client.set_terminated(self.run_id, status=status)
