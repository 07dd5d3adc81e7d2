"""Params of the `acoustics` stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section

DEFAULT_RULES = Path("melt/acoustics/description_rules.yaml")


class AcousticsParams(Section):
    """The `acoustics` stage: the LLM's pitch/loudness descriptions vs eGeMAPS (paper Table 4), docs/acoustics.md."""

    cache_dir: Path | None = Field(
        Path("cache/egemaps"),
        description="Per-file eGeMAPS results keyed by the sha256 of the audio bytes, so unchanged audio is never "
                    "re-extracted. A relative path is under the repository root ($DVC_ROOT inside `dvc exp run`), so "
                    "the workspace and every temp/queued experiment share it; null disables the cache.")
    normalize: Literal["none", "speaker"] = Field(
        "none", description="`none`: bin the raw values (paper). `speaker`: bin per-speaker z-scores, so each voice "
                            "is compared with its own range (a speaker with < 2 measured values or no spread has no "
                            "baseline).")
    low_quantile: float = Field(0.3, gt=0.0, lt=1.0,
                                description="Percentile-rank cut: values below it are `low` (paper: bottom 30 %). "
                                            "Ties share a level (docs/acoustics.md).")
    high_quantile: float = Field(0.7, gt=0.0, lt=1.0,
                                 description="Percentile-rank cut: values above it are `high` (paper: top 30 %); "
                                             "between the cuts `mid`. Must be above `low_quantile`.")
    rules: Path = Field(DEFAULT_RULES,
                        description="YAML file of the description → low/mid/high rules (regular expressions per "
                                    "level, tried in order). A file outside melt/acoustics is not tracked by DVC.")

    @model_validator(mode="after")
    def _ordered_quantiles(self):
        if self.low_quantile >= self.high_quantile:
            raise ValueError(f"acoustics.low_quantile ({self.low_quantile}) must be below "
                             f"acoustics.high_quantile ({self.high_quantile})")
        return self
