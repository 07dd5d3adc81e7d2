"""Params of the `derive` and `analyze` stages."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from melt.params_base import Section


class DeriveParams(Section):
    # How a tie between the most-voted labels is broken (several samples per utterance):
    #   first_sample: the tied label that appears in the lowest sample index wins;
    #   label_order:  the tied label that comes first in melt.data.labels.EMOTIONS wins;
    #   exclude:      the row goes to excluded.csv with reason `tie`.
    tie_break: Literal["first_sample", "label_order", "exclude"] = "first_sample"
    # Rows whose vote share (winner votes / samples) is below this go to excluded.csv (`low_confidence`).
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)


class AnalyzeParams(Section):
    # A second annotation run to compare with: a folder of annotations ({split}.jsonl), a folder of
    # MELT-layout CSVs ({split}.csv), or one MELT-layout CSV with a `split` column. null: no comparison.
    compare_with: Path | None = None
