"""The base of every params section, and loading the sections a stage needs from params.yaml.

A stage validates only its own sections (`stage_params(annotate=AnnotateParams)`), so it imports only
the params modules of its concern: `dvc.yaml` can list exactly those as its deps, and a new parameter
of another stage re-runs nothing here. `python -m melt.config --check` validates the whole file.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel, ConfigDict, ValidationError

from melt.io import read_yaml
from melt.params_sections import SECTIONS


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamsError(ValueError):
    """A params file that does not validate; the message names every bad key."""


def describe_error(err: ValidationError, source: str, prefix: str = "") -> str:
    lines = [f"{source}: {err.error_count()} invalid parameter(s)"]
    for e in err.errors():
        key = prefix + (".".join(str(p) for p in e["loc"]) or "(top level)")
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
            lines.append(f"  {key}: {e['msg']}{got}")
    return "\n".join(lines)


def read_params_file(path: str | Path) -> dict:
    path = Path(path)
    raw = read_yaml(path, ParamsError, "params file (run from the repository root)")
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw or {}


def parse_section(raw: dict, name: str, model: type[Section], source: str = "params") -> Section:
    value = raw.get(name)
    if value is not None and not isinstance(value, dict):
        raise ParamsError(f"{source}: 1 invalid parameter(s)\n  {name}: expected a mapping, got {type(value).__name__}")
    try:
        return model.model_validate(value or {})
    except ValidationError as err:
        raise ParamsError(describe_error(err, source, f"{name}.")) from None


def stage_params(path: str | Path = "params.yaml", **sections: type[Section]) -> SimpleNamespace:
    """The named sections of params.yaml, validated, for a stage script. A bad file stops the stage with a
    message naming the key, no traceback: `params = stage_params(data=DataParams, prepare=PrepareParams)`."""
    try:
        raw = read_params_file(path)
        unknown = [k for k in raw if k not in SECTIONS]
        if unknown:
            raise ParamsError(f"{path}: unknown section(s) {', '.join(map(str, unknown))} (known: {', '.join(SECTIONS)})")
        return SimpleNamespace(**{name: parse_section(raw, name, model, str(path)) for name, model in sections.items()})
    except ParamsError as err:
        raise SystemExit(f"error: {err}") from None
