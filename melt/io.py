"""Atomic writers: a stage killed mid-write never leaves a half file that DVC would hash.

Every temporary file is named `.melt-tmp-*` beside its target (same filesystem, so the rename is
atomic). `.dvcignore` excludes that pattern, so a temp file left by a kill -9 inside a `persist`
output is never hashed; `sweep_temp_files` removes such leftovers. The final file gets the mode a
plain `open(..., "w")` would give (0644 under a normal umask), its bytes are fsynced before the
rename, and the rename replaces a link (DVC's symlink/hardlink checkouts) instead of writing
through it into DVC's cache.

pandas is imported only by `write_csv`: the annotation engine uses `write_json` and keeps its
memory flat (importing pandas costs ~90 MB of RSS).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import pandas as pd

TEMP_PREFIX = ".melt-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """A file object whose content replaces `path` only when the block ends without an exception."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        if "b" not in mode:
            kwargs.setdefault("encoding", "utf-8")
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w", newline="") as f:
        f.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_csv(df: "pd.DataFrame", path: str | Path) -> None:
    with atomic_open(path, "w", newline="") as f:
        df.to_csv(f, index=False, lineterminator="\n")


def sweep_temp_files(root: str | Path) -> int:
    """Remove `.melt-tmp-*` files a killed writer left under `root`; returns how many."""
    n = 0
    for tmp in Path(root).rglob(f"{TEMP_PREFIX}*"):
        if tmp.is_file():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                n += 1
    return n


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
