"""Params of the `acoustics` stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section

DEFAULT_RULES = Path("melt/acoustics/description_rules.yaml")


class AcousticsParams(Section):
    # openSMILE worker processes (one Smile per process).
    workers: int = Field(2, ge=1)
    # Per-file eGeMAPS results, keyed by the sha256 of the audio bytes; null disables the cache.
    cache_dir: Path | None = Path("cache/egemaps")
    # none: bin the raw values (paper); speaker: bin per-speaker z-scores (pitch depends on the voice).
    normalize: Literal["none", "speaker"] = "none"
    # Bottom `low_quantile` → low, top 1 - `high_quantile` → high, the rest mid (paper: 30/40/30).
    low_quantile: float = Field(0.3, gt=0.0, lt=1.0)
    high_quantile: float = Field(0.7, gt=0.0, lt=1.0)
    # The description → low/mid/high rules (a YAML data file).
    rules: Path = DEFAULT_RULES

    @model_validator(mode="after")
    def _ordered_quantiles(self):
        if self.low_quantile >= self.high_quantile:
            raise ValueError(f"acoustics.low_quantile ({self.low_quantile}) must be below "
                             f"acoustics.high_quantile ({self.high_quantile})")
        return self
