"""Where the repository is, also from inside a DVC experiment.

`dvc exp run --temp` and queued runs execute in `<repo>/.dvc/tmp/exps/...`, a copy without the
git-ignored stores, but DVC sets $DVC_ROOT to the original repository (measured with DVC 3.67).
Stores that every experiment must share (the LLM answer store, MLflow, the eGeMAPS cache) resolve
their default location against `repo_root()`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def repo_root(cwd: str | Path | None = None) -> Path:
    """$DVC_ROOT, else the repository above a `.dvc/tmp/exps` working directory, else git's top level."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    start = Path(cwd or os.getcwd()).resolve()
    parts = start.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True,
                             check=True).stdout.strip()
        return Path(top)
    except (OSError, subprocess.CalledProcessError):
        return start


def shared_path(configured: str | Path | None, default: str) -> Path:
    """A store location: an absolute `configured` path as is, a relative one (or `default`) under `repo_root()`."""
    path = Path(configured if configured is not None else default).expanduser()
    return path if path.is_absolute() else repo_root() / path
