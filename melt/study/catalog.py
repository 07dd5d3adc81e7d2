"""The study set as the app serves it: questions' items, the review queue with each utterance's preceding turns,
and the only media files it may send.

Public ids are computed here from each row's key and the database's secret (`melt.study.keys`). Media are looked
up by id in a table built here from `data/study/*.csv`; a request never names a path, so nothing outside the
study set can be served.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from melt.study.keys import item_id as keyed_id
from melt.study.store import Item

ITEM_ID = re.compile(r"[0-9a-f]{16}")
MEDIA_TYPES = {"audio": "audio/wav", "video": "video/mp4"}


class CatalogError(ValueError):
    """A study set the app cannot serve; the message names the file (and row)."""


@dataclass
class Catalog:
    preference: list[Item]
    attention: list[Item]
    queue: list[dict]                                          # review queue rows, in queue order
    media: dict[str, dict[str, Path]] = field(default_factory=dict)   # item_id → {"audio"|"video": file}
    preferred_media: dict[str, str] = field(default_factory=dict)     # item_id → what its question plays
    queue_items: dict[str, Item] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)          # item_id → clip seconds (questions)
    context: dict[str, list[dict]] = field(default_factory=dict)       # queue item_id → preceding turns, oldest first
    panel: dict | None = None                                          # data/study/panel.json, if MELT has a panel

    def media_file(self, item_id: str, kind: str) -> Path | None:
        if not ITEM_ID.fullmatch(item_id or ""):
            return None
        return self.media.get(item_id, {}).get(kind)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CatalogError(f"{path}: not found (run `dvc repro study_set` first)")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def item_from_row(row: dict) -> Item:
    return Item(item_id=row["item_id"], kind=row.get("kind", "review"), split=row["split"],
                dialogue_id=int(row["dialogue_id"]), utterance_id=int(row["utterance_id"]),
                meld_label=row["meld_label"], melt_label=row.get("melt_label") or row.get("llm_label", ""),
                text=row["Utterance"], option_1=row.get("option_1", ""), source_1=row.get("source_1", ""),
                option_2=row.get("option_2", ""), source_2=row.get("source_2", ""))


def _keyed(path: Path, frame: pd.DataFrame, secret: str, dialogue: str = "dialogue_id",
           utterance: str = "utterance_id") -> list[dict]:
    """The rows of `frame` with their public `item_id` (from their key and the secret)."""
    rows = []
    for n, row in enumerate(frame.to_dict("records"), start=2):   # row 1 is the header
        try:
            row["item_id"] = keyed_id(secret, row["split"], int(row[dialogue]), int(row[utterance]))
        except (KeyError, ValueError):
            raise CatalogError(f"{path}: row {n}: malformed key {row.get('split')!r}/{row.get(dialogue)!r}/"
                               f"{row.get(utterance)!r}") from None
        rows.append({**row, "_row": n})
    return rows


def load_catalog(study_dir: str | Path, media_root: str | Path, secret: str) -> Catalog:
    """`items.csv`, `review_queue.csv`, `context.csv` (and `panel.json`, if any) of `study_dir`, with public ids
    keyed by the database's `secret`; relative media paths are resolved against `media_root` (the repository
    root). Every listed media file must exist: a missing one is an error naming it."""
    study_dir, media_root = Path(study_dir), Path(media_root)
    items_path, queue_path = study_dir / "items.csv", study_dir / "review_queue.csv"
    context_path, panel_path = study_dir / "context.csv", study_dir / "panel.json"
    items, queue = _keyed(items_path, _read(items_path), secret), _keyed(queue_path, _read(queue_path), secret)
    context = _keyed(context_path, _read(context_path), secret, utterance="turn_utterance_id")
    cat = Catalog(preference=[], attention=[], queue=[{k: v for k, v in r.items() if k != "_row"} for r in queue],
                  panel=json.loads(panel_path.read_text(encoding="utf-8")) if panel_path.is_file() else None)
    queued = {(r["split"], r["dialogue_id"], r["utterance_id"]): r["item_id"] for r in queue}
    missing = []
    for path, rows in ((items_path, items), (queue_path, queue), (context_path, context)):
        for row in rows:
            n = row["_row"]
            files = {kind: media_root / row[f"{kind}_path"] for kind in MEDIA_TYPES if row.get(f"{kind}_path")}
            missing += [f"{path}: row {n}: {f}" for f in files.values() if not f.is_file()]
            cat.media.setdefault(row["item_id"], {}).update(files)
            if row.get("media"):
                cat.preferred_media[row["item_id"]] = row["media"]
            if path == context_path:
                target = queued.get((row["split"], row["dialogue_id"], row["utterance_id"]))
                if target is None:
                    raise CatalogError(f"{path}: row {n}: not a turn before an utterance of the review queue")
                cat.context.setdefault(target, []).append(
                    {"item_id": row["item_id"], "turn": int(row["turn"]), "speaker": row["Speaker"],
                     "text": row["Utterance"], "media": row["media"]})
            elif path == items_path:
                if row.get("duration_s"):
                    cat.durations[row["item_id"]] = float(row["duration_s"])
                if row["kind"] not in ("preference", "attention"):
                    raise CatalogError(f"{path}: row {n}: unknown kind {row['kind']!r}")
                if not row["media"]:
                    raise CatalogError(f"{path}: row {n}: no media to play")
                (cat.preference if row["kind"] == "preference" else cat.attention).append(item_from_row(row))
            else:
                cat.queue_items[row["item_id"]] = item_from_row({**row, "kind": "review"})
    if missing:
        raise CatalogError(f"{len(missing)} media file(s) listed in the study set are missing:\n  "
                           + "\n  ".join(missing[:10]))
    if not cat.preference:
        raise CatalogError(f"{items_path}: no preference items (see sampling.json beside it)")
    return cat
