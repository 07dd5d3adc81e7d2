"""SER's MLflow metric names (the run itself is melt.tracking's)."""

from __future__ import annotations

from melt.ser.data import IN_DOMAIN


def metric_key(head: str) -> str:
    """MLflow key of a head's per-epoch training loss (`loss` for the in-domain head)."""
    return "loss" if head == IN_DOMAIN else f"loss_{head}"
