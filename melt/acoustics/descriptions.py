"""The LLM's free-text voice descriptions → low / mid / high, by rules kept in a YAML data file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from melt.io import read_yaml

LEVELS = ("low", "mid", "high")
CHARACTERISTICS = ("pitch", "loudness")


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern
    level: str | None  # None: consumes its words without giving a level


@dataclass(frozen=True)
class Mapping:
    level: str | None   # low/mid/high, or None when unmappable
    reason: str | None  # why unmappable: "no rule matched", "conflicting levels: ..."


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the rule."""


def load_rules(path: str | Path) -> dict[str, list[Rule]]:
    path = Path(path)
    raw = read_yaml(path, RulesError, "rules file")
    if not isinstance(raw, dict) or set(raw) != set(CHARACTERISTICS):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise RulesError(f"{path}: expected exactly the sections {list(CHARACTERISTICS)}, got {got}")
    rules = {}
    for characteristic, items in raw.items():
        rules[characteristic] = []
        for i, item in enumerate(items or [], start=1):
            where = f"{path}: {characteristic} rule {i}"
            if not isinstance(item, dict) or set(item) != {"pattern", "level"}:
                raise RulesError(f"{where}: expected keys pattern and level, got {item!r}")
            if item["level"] is not None and item["level"] not in LEVELS:
                raise RulesError(f"{where}: level {item['level']!r} is not one of {LEVELS} or null")
            try:
                regex = re.compile(rf"\b(?:{item['pattern']})\b", re.IGNORECASE)
            except re.error as err:
                raise RulesError(f"{where}: bad pattern {item['pattern']!r}: {err}") from None
            rules[characteristic].append(Rule(regex, item["level"]))
    return rules


def map_description(text: str, rules: list[Rule]) -> Mapping:
    """One description → a level; unmappable (with the reason) rather than a guess."""
    remaining = " ".join(str(text).lower().split())
    found: list[str] = []
    for rule in rules:
        if rule.regex.search(remaining):
            if rule.level is not None:
                found.append(rule.level)
            # Consume the matched words so shorter rules below cannot match inside them.
            remaining = rule.regex.sub(" | ", remaining)
    levels = sorted(set(found), key=LEVELS.index)
    if len(levels) == 1:
        return Mapping(levels[0], None)
    if not levels:
        return Mapping(None, "no rule matched")
    return Mapping(None, "conflicting levels: " + ", ".join(levels))


def is_missing(text) -> bool:
    """None, NaN, pandas NA or blank: the LLM gave no description."""
    return text is None or bool(pd.isna(text)) or not str(text).strip()
