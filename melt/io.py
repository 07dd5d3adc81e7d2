"""Atomic writers: a stage killed mid-write never leaves a half file that DVC would hash.

pandas is imported only by `write_csv`: the annotation engine uses `write_json` and keeps its
memory flat (importing pandas costs ~90 MB of RSS).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = _atomic_target(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_csv(df: "pd.DataFrame", path: str | Path) -> None:
    path = Path(path)
    tmp = _atomic_target(path)
    df.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    os.replace(tmp, path)


def read_yaml(path: str | Path, error: type[Exception] = ValueError, what: str = "file") -> Any:
    """Parsed YAML; a missing or malformed file raises ``error`` with a message naming the path."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from None


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
