"""Dialogue tables for emotion recognition in conversations (ERC): one row per turn, in dialogue order.

Every reader returns `(turns, excluded)`:
- turns: `TURN_COLUMNS` — dataset, split (train / validation / test), dialogue_id (unique in the dataset),
  turn (0-based order in the dialogue), speaker, item_id (the corpus's own utterance id, unique in the
  dataset), audio_path, text, label (one of the dataset's classes; empty for a context-only turn), score (the
  raw rating where a corpus has one, e.g. CMU-MOSI's sentiment in [-3, 3]), subset (the declared evaluation
  subset a turn belongs to, e.g. `melt` for MELD's MELT-filtered turns; empty for none), note (why a turn is
  context only, or what was repaired: reordered, audio missing, single-turn dialogue);
- excluded: `EXCLUDED_COLUMNS` — every utterance of the source that is not a turn, with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

SPLITS: tuple[str, ...] = ("train", "validation", "test")
TURN_COLUMNS: tuple[str, ...] = ("dataset", "split", "dialogue_id", "turn", "speaker", "item_id", "audio_path",
                                 "text", "label", "score", "subset", "note")
EXCLUDED_COLUMNS: tuple[str, ...] = ("dataset", "split", "dialogue_id", "item_id", "reason")


def join_notes(*notes: str | None) -> str | None:
    kept = [n for n in notes if isinstance(n, str) and n]
    return "; ".join(kept) if kept else None


def number_turns(rows: pd.DataFrame, order: Iterable[str], dialogue_order: str = "dialogue_order",
                 reorder_note: str | None = None) -> pd.DataFrame:
    """Sort each dialogue by the `order` columns, number its turns from 0, and return `TURN_COLUMNS`.

    rows: the turns with `dialogue_order` (sorts dialogues), the `order` columns and `source_order` (the position
    in the source file). A dialogue whose source order differs from `order` gets `reorder_note` on every turn
    (when given); a dialogue of one turn is noted (it has no context)."""
    order = list(order)
    if "subset" not in rows.columns:
        rows = rows.assign(subset=None)
    rows = rows.sort_values([dialogue_order, "dialogue_id", *order], kind="stable").reset_index(drop=True)
    rows["turn"] = rows.groupby("dialogue_id", sort=False).cumcount()
    size = rows.groupby("dialogue_id", sort=False)["turn"].transform("size")
    notes = list(rows["note"])
    if reorder_note is not None:
        moved = rows.groupby("dialogue_id", sort=False)["source_order"].transform(
            lambda s: not s.is_monotonic_increasing)
        notes = [join_notes(n, reorder_note) if m else n for n, m in zip(notes, moved)]
    notes = [join_notes(n, "single-turn dialogue: no context") if k == 1 else n for n, k in zip(notes, size)]
    rows["note"] = notes
    return rows[list(TURN_COLUMNS)]


def excluded_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(EXCLUDED_COLUMNS))
