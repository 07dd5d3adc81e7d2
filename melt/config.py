"""params.yaml → one validated, immutable object. Stages read their own sections from it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from melt.acoustics.params import AcousticsParams
from melt.analysis.params import AnalyzeParams, DeriveParams
from melt.annotate.params import AnnotateParams, PromptsParams
from melt.data.params import DataParams, PrepareParams
from melt.io import read_yaml
from melt.params_base import Section
from melt.publish.params import PublishParams
from melt.ser.params import SerParams
from melt.study.params import StudyParams


class Params(Section):
    data: DataParams = Field(default_factory=DataParams)
    prepare: PrepareParams = Field(default_factory=PrepareParams)
    prompts: PromptsParams = Field(default_factory=PromptsParams)
    annotate: AnnotateParams = Field(default_factory=AnnotateParams)
    derive: DeriveParams = Field(default_factory=DeriveParams)
    analyze: AnalyzeParams = Field(default_factory=AnalyzeParams)
    publish: PublishParams = Field(default_factory=PublishParams)
    acoustics: AcousticsParams = Field(default_factory=AcousticsParams)
    ser: SerParams = Field(default_factory=SerParams)
    study: StudyParams = Field(default_factory=StudyParams)


class ParamsError(ValueError):
    """A params file that does not validate; the message names every bad key."""


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid parameter(s)"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
            lines.append(f"  {key}: {e['msg']}{got}")
    return "\n".join(lines)


def parse_params(raw: dict | None, source: str = "params") -> Params:
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(_describe(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    raw = read_yaml(path, ParamsError, "params file (run from the repository root)")
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, str(path))


def stage_params(path: str | Path = "params.yaml") -> Params:
    """`load_params` for stage scripts: a bad params file stops the stage with its message, no traceback."""
    try:
        return load_params(path)
    except ParamsError as err:
        raise SystemExit(f"error: {err}") from None
