"""Content-addressed transcript store: one JSON per (ASR model fingerprint, audio sha256).

`<root>/<fingerprint key>/<sha[:2]>/<sha>.json` holds the text and the model's confidence fields;
`<root>/<fingerprint key>/model.json` says which model and settings the key stands for. The store
is shared by every run and every `dvc exp` (it lives under the repository root, see
`melt.repo.shared_path`), so the same audio under the same model is transcribed once, whatever
the corpus version, `pretrain.max_items` or experiment. Writes are atomic (`melt.io`).
"""

from __future__ import annotations

import json
from pathlib import Path

from melt.io import sweep_temp_files, write_json


class TranscriptStore:
    def __init__(self, root: str | Path, fingerprint: dict):
        self.base = Path(root) / fingerprint["key"]
        self.base.mkdir(parents=True, exist_ok=True)
        sweep_temp_files(self.base)   # leftovers of a killed writer
        if not (self.base / "model.json").is_file():
            write_json(self.base / "model.json", fingerprint)

    def _path(self, sha: str) -> Path:
        return self.base / sha[:2] / f"{sha}.json"

    def get(self, sha: str) -> dict | None:
        try:
            return json.loads(self._path(sha).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, sha: str, record: dict) -> None:
        write_json(self._path(sha), record)
