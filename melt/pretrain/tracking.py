"""MLflow for text pre-training: one run per model (melt.tracking), with the per-epoch loss."""

from __future__ import annotations

from melt.tracking import Tracker, dvc_experiment, tracking_uri

__all__ = ["Run", "tracking_uri"]


class Run:
    """start → log_epoch … → finish(metrics); the run id stays in MLflow (never in a DVC output)."""

    def __init__(self, uri: str, experiment: str, name: str, params: dict):
        self.tracker = Tracker(uri, experiment)
        # MLflow caps a param value at 6,000 characters
        self.run_id = self.tracker.start(name, {k: str(v)[:6000] for k, v in params.items()},
                                         tags={"dvc_experiment": dvc_experiment()})

    def log_epoch(self, epoch: int, loss: float) -> None:
        self.tracker.log_metric(self.run_id, "loss", loss, step=epoch)

    def finish(self, metrics: dict[str, float], status: str = "FINISHED") -> None:
        self.tracker.log_metrics(self.run_id, metrics)
        self.tracker.finish(self.run_id, status=status)
