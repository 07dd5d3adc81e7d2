"""IEMOCAP dialogues from the release layout (`IEMOCAP_full_release/`).

- `SessionN/dialog/transcriptions/<dialog>.txt`: one line per turn, `<turn id> [start-end]: text` (times in s);
- `SessionN/dialog/EmoEvaluation/<dialog>.txt`: the majority label per turn, `[start - end]\t<turn id>\t<code>\t[v, a, d]`;
- `SessionN/sentences/wav/<dialog>/<turn id>.wav`: the audio of each turn.

A dialogue is one `<dialog>` (an improvisation or a script of one session); turns are ordered by start time.
The 4-class protocol (`labelmaps/iemocap.csv`: neutral, happy + excited → joy, anger, sadness): turns with any
other label (frustration, surprise, ..., `xxx` = no majority) stay in the dialogue as context, unscored.
Splits by session: `test_session` (default 5) is the test split; validation is either a seeded `validation_fraction`
(default 10 %) of the dialogues of the other sessions (`validation_session` None, the common ERC convention: Sessions
1–4 train, Session 5 test, docs/erc.md) or a whole session (`validation_session`, e.g. 1); the rest train. Any test
session gives a leave-one-session-out fold.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from melt.data.corpora.labelmaps import load_label_map
from melt.data.dialogues import excluded_frame, join_notes, number_turns

_TRANSCRIPT = re.compile(r"^(?P<turn>Ses\d\d[FM]_\S+_[FM]\S*)\s+\[(?P<start>[\d.]+)-(?P<end>[\d.]+)\]:\s?(?P<text>.*)$")
_TURN_ID = re.compile(r"^Ses\d\d[FM]_\S+_[FM]\S*")
_EVALUATION = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t\[")


def session_split(session: int, test_session: int, validation_session: int | None) -> str:
    return "test" if session == test_session else "validation" if session == validation_session else "train"


def held_out_dialogues(dialogues: list[str], fraction: float, seed: int) -> set[str]:
    """A seeded `fraction` of `dialogues` (at least one when there are two or more): those first in the order of
    sha256("<seed>/<dialogue>"), so the choice depends only on the seed and the dialogue names (not on file order,
    platform or library versions)."""
    names = sorted(set(dialogues))
    count = min(len(names) - 1, max(1, round(fraction * len(names)))) if len(names) > 1 else 0
    ranked = sorted(names, key=lambda d: hashlib.sha256(f"{seed}/{d}".encode()).hexdigest())
    return set(ranked[:count])


def read_labels(path: Path) -> dict[str, str]:
    """Turn id → majority code of one EmoEvaluation file (annotator lines are skipped)."""
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _EVALUATION.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def read_iemocap_dialogues(root: str | Path, dataset: str = "iemocap", test_session: int = 5,
                           validation_session: int | None = None, validation_fraction: float = 0.1,
                           validation_seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    root = Path(root)
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir() and p.name[7:].isdigit())
    if not sessions:
        raise FileNotFoundError(f"{root}: no Session*/ folders (expected the IEMOCAP_full_release layout)")
    label_map = load_label_map("iemocap")
    rows, excluded = [], []
    for session in sessions:
        number = int(session.name[7:])
        split = session_split(number, test_session, validation_session)
        for txt in sorted((session / "dialog" / "transcriptions").glob("*.txt")):
            dialog = txt.stem
            evaluation = session / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
            codes = read_labels(evaluation) if evaluation.is_file() else {}
            seen = set()
            for i, line in enumerate(txt.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                m = _TRANSCRIPT.match(line.strip())
                if not m:
                    if _TURN_ID.match(line.strip()):   # a turn line we cannot parse: say so
                        turn = line.split()[0]
                        excluded.append({"dataset": dataset, "split": split, "dialogue_id": dialog, "item_id": turn,
                                         "reason": f"{txt}: line {i}: not '<turn> [start-end]: text'"})
                    continue   # other lines are not turns (empty lines, annotations)
                turn, text = m.group("turn"), m.group("text").strip()
                if turn in seen:
                    excluded.append({"dataset": dataset, "split": split, "dialogue_id": dialog, "item_id": turn,
                                     "reason": f"{txt}: line {i}: turn id repeated"})
                    continue
                seen.add(turn)
                code = codes.get(turn)
                label, note = None, None
                if code is None:
                    note = f"context only: no label in {evaluation.name}"
                else:
                    label, why = label_map.lookup(code)
                    if label is None:
                        note = f"context only: {why}"
                wav = session / "sentences" / "wav" / dialog / f"{turn}.wav"
                if not wav.is_file():
                    note = join_notes(note, f"audio missing: {wav} (text only)")
                rows.append({"dataset": dataset, "split": split, "dialogue_id": dialog, "speaker": _speaker(turn),
                             "item_id": turn, "audio_path": str(wav), "text": text, "label": label, "score": None,
                             "note": note, "dialogue_order": (number, dialog), "start": float(m.group("start")),
                             "source_order": i})
            for turn in sorted(set(codes) - seen):
                excluded.append({"dataset": dataset, "split": split, "dialogue_id": dialog, "item_id": turn,
                                 "reason": f"labelled in {evaluation} but not in {txt} (no text)"})
    if not rows:
        raise FileNotFoundError(f"{root}: no turns in Session*/dialog/transcriptions/*.txt")
    rows = pd.DataFrame(rows)
    if validation_session is None:   # the seeded share of the training sessions' dialogues
        held = held_out_dialogues(list(rows.loc[rows["split"] == "train", "dialogue_id"]), validation_fraction,
                                  validation_seed)
        rows.loc[rows["dialogue_id"].isin(held), "split"] = "validation"
        excluded = [{**e, "split": "validation"} if e["dialogue_id"] in held else e for e in excluded]
    turns = number_turns(rows, order=["start", "source_order"],
                         reorder_note="transcript lines out of time order: turns ordered by start time")
    return turns, excluded_frame(excluded)


def _speaker(turn: str) -> str:
    """Session and the speaker's gender letter (the last field's first letter): `Ses01F`, `Ses01M`."""
    return f"{turn[:5]}{turn.rsplit('_', 1)[-1][0]}"
