"""MELD timestamps (``hh:mm:ss,ms``)."""

from __future__ import annotations

import re

_TIME = re.compile(r"^\s*(\d+):([0-5]?\d):([0-5]?\d)[,.](\d{1,3})\s*$")


def parse_timestamp(value: str) -> float:
    """Seconds from ``hh:mm:ss,ms``; ValueError on anything else."""
    m = _TIME.match(value or "")
    if not m:
        raise ValueError(f"unparsable timestamp {value!r} (expected hh:mm:ss,ms)")
    h, mnt, s, ms = m.groups()
    return int(h) * 3600 + int(mnt) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000
