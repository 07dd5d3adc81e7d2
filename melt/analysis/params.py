"""Params of the `derive` and `analyze` stages."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from melt.params_base import Section


class DeriveParams(Section):
    tie_break: Literal["first_sample", "label_order", "exclude"] = Field("first_sample", description=(
        "A tie between the most-voted labels (several samples per utterance): `first_sample` takes the tied "
        "label given by the lowest sample index, `label_order` the first in anger, disgust, sadness, joy, "
        "neutral, surprise, fear, `exclude` sends the row to `excluded.csv` (reason `tie`)."))
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description=(
        "Rows whose vote share (winner's votes / all samples, invalid and failed samples included) is below "
        "this go to `excluded.csv` (reason `low_confidence`); 0 keeps every labelled row."))


class AnalyzeParams(Section):
    compare_with: Path | None = Field(None, description=(
        "A second annotation run to compare with: a folder of annotations (`{split}.jsonl`), a folder of "
        "MELT-layout CSVs (`{split}.csv`) or one MELT-layout CSV with a `split` column. null: no comparison. "
        "DVC does not hash it: after changing it run `dvc repro -f analyze`."))
