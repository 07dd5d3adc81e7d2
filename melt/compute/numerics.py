"""The driver's exact-numerics settings (melt.reproducible) in every process that runs a model for it.

Ray workers are started by the raylet, not by the driver, so they do not inherit its environment: the variables go
into the job's `runtime_env`, and each actor calls `configure_torch()` before it loads its model. The local
engine runs torch models in the driver itself (a stage script configures itself first) and forks workers only for
models without torch (melt.compute.runner)."""

from __future__ import annotations

from melt.reproducible import EXACT_ENV, configure_torch

# Ray's own telemetry stays off in every process it starts (the product never phones home).
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def runtime_env() -> dict:
    """Ray's runtime_env for the job: the exact-numerics variables, telemetry off."""
    return {"env_vars": {**EXACT_ENV, **QUIET_ENV}}


def configure_worker() -> None:
    """In a worker (Ray actor or local process), before its model loads."""
    configure_torch()

