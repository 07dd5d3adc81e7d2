"""The params reference and the default params.yaml, generated from the pydantic models.

Each parameter is documented once, in its model's `Field(description=...)`. `docs/params.md` and the
repository's `params.yaml` (every key with its default, so `dvc params diff` sees every knob) are
generated from the models and checked by a test:

    python -m melt.config --markdown > docs/params.md
    python -m melt.config --yaml > params.yaml
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterator, Literal

from pydantic import BaseModel

PARAMS_YAML_HEADER = """\
# Every knob of the pipeline, with its default: the defaults run offline on the embedded demo corpora.
# Validated at the start of every stage (melt/config.py): unknown keys and bad values are errors.
# What each key means: docs/params.md (generated from the models: python -m melt.config --markdown).
"""


@dataclass(frozen=True)
class Entry:
    key: str            # dotted, e.g. annotate.prices
    type: str
    default: Any        # JSON-able
    description: str


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if annotation is type(None):
        return "null"
    if origin in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return f"list of {_type_name(inner[0])}" if inner else "list"
    if origin is dict:
        return f"map of {_type_name(args[0])} → {_type_name(args[1])}" if args else "map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _map_values(annotation: Any) -> type[BaseModel] | None:
    """The value model of a `dict[str, Model]` field (e.g. annotate.annotators), else None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(args) == 2 and _is_model(args[1]):
        return args[1]
    return None


def _value_entries(model: type[BaseModel], prefix: str) -> Iterator[Entry]:
    """The fields of each value of a map (`<prefix>`: e.g. `annotate.annotators.<name>.`), with their defaults."""
    from pydantic_core import PydanticUndefined

    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        default = "required" if default is PydanticUndefined else json.loads(
            json.dumps(default, default=str)) if not isinstance(default, BaseModel) else default.model_dump(mode="json")
        yield Entry(f"{prefix}{name}", _type_name(field.annotation), default, field.description or "")


def entries(model: type[BaseModel], prefix: str = "") -> Iterator[Entry]:
    """Every field of `model`, depth first; nested sections are listed before their own fields, and the fields of
    a map's values (`key.<name>.field`) after the map."""
    defaults = model().model_dump(mode="json")
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        yield Entry(key, _type_name(field.annotation), defaults[name], field.description or "")
        if _is_model(field.annotation):
            yield from entries(field.annotation, f"{key}.")
        elif _map_values(field.annotation) is not None:
            yield from _value_entries(_map_values(field.annotation), f"{key}.<name>.")


def undocumented(model: type[BaseModel]) -> list[str]:
    """Keys whose field has no description; nested value models of maps (e.g. prices) included."""
    missing = [e.key for e in entries(model) if not e.description]
    for name, field in model.model_fields.items():
        args = typing.get_args(field.annotation)
        if typing.get_origin(field.annotation) is dict and args and _is_model(args[1]):
            missing += [f"{name}.<key>.{k}" for k, f in args[1].model_fields.items() if not f.description]
        elif _is_model(field.annotation):
            missing += [f"{name}.{k}" for k in undocumented(field.annotation)]
    return sorted(set(missing))


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    if value is None:
        text = "null"
    if isinstance(value, bool):
        text = str(value).lower()
    return f"`{text}`".replace("|", "\\|") if text != "" else '`""`'


def markdown(root: type[BaseModel]) -> str:
    lines = ["# Parameters", "",
             "Every key of `params.yaml`, generated from the pydantic models in `melt/*/params.py` "
             "(`python -m melt.config --markdown > docs/params.md`; a test checks this page is current). "
             "The defaults run offline on the embedded demo corpora. Change a value in `params.yaml`, or per "
             "experiment with `dvc exp run -S section.key=value`.", ""]
    for name, field in root.model_fields.items():
        lines += [f"## {name}", "", field.description or "", "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        for e in entries(field.annotation, f"{name}."):
            default = "" if e.type == "section" else _cell(e.default)
            if isinstance(e.default, dict) and len(default) > 200:   # a map of sections: its keys (values below)
                default = ", ".join(f"`{k}`" for k in e.default)
            lines.append(f"| `{e.key}` | {e.type} | {default} | {e.description.replace('|', chr(92) + '|')} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --- params.yaml -----------------------------------------------------------------------------------------

def _scalar(value: Any) -> str:
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _yaml_lines(obj: dict, indent: int) -> Iterator[str]:
    pad = "  " * indent
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            yield f"{pad}{key}:"
            yield from _yaml_lines(value, indent + 1)
        else:
            yield f"{pad}{key}: {_scalar(value)}"


def default_yaml(root: type[BaseModel]) -> str:
    values = root().model_dump(mode="json")
    out = [PARAMS_YAML_HEADER]
    for name, field in root.model_fields.items():
        out.append(f"{name}:  # docs/params.md#{name}")
        out += list(_yaml_lines(values[name], 1))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
