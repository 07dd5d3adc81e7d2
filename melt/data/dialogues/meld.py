"""MELD-format dialogues (MELD itself, or the demo sitcom) from `data/prepared` (+ `data/melt` for MELT labels).

**Every utterance of the corpus is a turn**, in its official split: the rows `prepare` kept
(`data/prepared/{train,dev,test}.csv`) and the rows it set aside (`data/prepared/excluded.csv`, with its reason):
on MELD 9,989 / 1,109 / 2,610 turns. Turns keep MELD's order (Utterance_ID, the order of the script); MELD's
timestamps disagree with it in a few dialogues (23 / 4 / 5 of train / dev / test): those turns are noted, and
Utterance_ID order is kept. A row that cannot be placed in a dialogue (prepare's `invalid_id`, `duplicate_key`) is
not a turn: it is listed in the exclusions with prepare's reason. A turn without usable audio (prepare found none,
could not read it, or set the row aside before looking: `bad_timestamp`, ...) is a text-only turn, noted.

**The MELT subset** (`subset` = `melt`): the turns the MELT paper's filter keeps (utterances ≥ 1 s by named
speakers, ≥ 3 words), i.e. exactly the rows of `data/prepared/{split}.csv`. It depends on the corpus and the
`prepare` params only, never on an annotation run. The other turns stay in their dialogues as context.

Labels: `meld` = MELD's `Emotion` on every turn; `melt` = `llm_label` of data/melt, on the turns of the MELT subset
only (the MELT labels exist only there). A MELT-subset turn whose LLM answer is not one of the seven (out of set, or
no valid answer) has no MELT label: it is context, with the reason in its note — how many such turns there are is
the one thing that depends on the annotation run (reported by `erc_evaluate`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from melt.data.dialogues import excluded_frame, join_notes, number_turns
from melt.data.labels import normalize_emotion

MELD_SPLITS = {"train": "train", "dev": "validation", "test": "test"}   # MELD's names → ERC split names
LABEL_SETS = ("melt", "meld")
SUBSET = "melt"   # the `subset` of the turns the MELT paper's filter keeps
# prepare's reasons for a row that has no place in a dialogue (no usable Dialogue_ID / Utterance_ID pair)
UNPLACEABLE = ("invalid_id", "duplicate_key")
ROW_COLUMNS = ("dialogue_id", "utterance_id", "Speaker", "Utterance", "Emotion", "audio_path", "start_s")
_INT = re.compile(r"^\d+(\.0+)?$")


def _read(path: Path, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what})")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def _int(value: str) -> int | None:
    return int(float(value)) if _INT.match(value.strip()) else None


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def prepared_rows(prepared_dir: Path, source_split: str, excluded: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """(every placeable utterance of one split as a dict, the unplaceable ones with prepare's reason)."""
    kept = _read(prepared_dir / f"{source_split}.csv", "run the prepare stage first", ROW_COLUMNS)
    rows = [{**r, "in_subset": True, "prepare_reason": None} for r in kept.to_dict("records")]
    unplaceable = []
    for r in excluded[excluded["split"] == source_split].to_dict("records"):
        reason = f"{r['reason']}: {r['detail']}" if r["detail"] else r["reason"]
        if r["reason"] in UNPLACEABLE or _int(r["dialogue_id"]) is None or _int(r["utterance_id"]) is None:
            unplaceable.append({**r, "prepare_reason": reason})
        else:
            rows.append({**r, "in_subset": False, "prepare_reason": reason})
    return rows, unplaceable


def _melt_labels(melt_dir: Path, source_split: str) -> tuple[dict, dict]:
    """(llm_label by (dialogue, utterance), derive's exclusion reason by (dialogue, utterance))."""
    melt = _read(melt_dir / f"{source_split}.csv", "run the derive stage first", ("dialogue_id", "utterance_id",
                                                                                   "llm_label"))
    derived = _read(melt_dir / "excluded.csv", "run the derive stage first", ("split", "dialogue_id", "utterance_id",
                                                                               "reason", "detail"))
    derived = derived[derived["split"] == source_split]
    labels = {(_int(d), _int(u)): v for d, u, v in zip(melt["dialogue_id"], melt["utterance_id"], melt["llm_label"])}
    reasons = {(_int(d), _int(u)): f"{r}: {t}" if t else r for d, u, r, t in
               zip(derived["dialogue_id"], derived["utterance_id"], derived["reason"], derived["detail"])}
    return labels, reasons


def _turn(r: dict, labels: str, llm: dict, derive_reason: dict) -> tuple[str | None, str | None]:
    """(label, note) of one utterance."""
    key = (_int(r["dialogue_id"]), _int(r["utterance_id"]))
    note = None if r["in_subset"] else f"not in the MELT subset (prepare: {r['prepare_reason']})"
    if labels == "meld":
        label = normalize_emotion(r["Emotion"])
        if label is None:
            note = join_notes(f"context only: MELD Emotion {r['Emotion']!r} is not one of the seven", note)
    elif not r["in_subset"]:
        label, note = None, f"context only: {note}"
    else:
        label = normalize_emotion(llm.get(key))
        if label is None:
            why = (f"derive: {derive_reason[key]}" if key not in llm and key in derive_reason
                   else f"llm_label {llm.get(key)!r} is not one of the seven")
            note = join_notes(f"context only: no valid MELT label ({why})", note)
    audio = r["audio_path"] or None
    if audio is None:
        why = f"prepare: {r['prepare_reason']}" if r["prepare_reason"] else "no audio in data/prepared"
        note = join_notes(note, f"audio missing: {why} (text only)")
    elif not Path(audio).is_file():
        note = join_notes(note, f"audio missing: {audio} (text only)")
    return label, note


def read_meld_dialogues(prepared_dir: str | Path, melt_dir: str | Path, dataset: str,
                        labels: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(turns, excluded) of a MELD-format corpus; `labels` is `melt` or `meld` (data/melt is read only for
    `melt`, so a MELD-labelled table does not depend on the annotation)."""
    if labels not in LABEL_SETS:
        raise ValueError(f"{dataset}: unknown label set {labels!r} (known: {', '.join(LABEL_SETS)})")
    prepared_dir, melt_dir = Path(prepared_dir), Path(melt_dir)
    excluded_rows = _read(prepared_dir / "excluded.csv", "run the prepare stage first",
                          ("reason", "detail", "split", *ROW_COLUMNS))
    frames, excluded = [], []
    for source_split, split in MELD_SPLITS.items():
        rows, unplaceable = prepared_rows(prepared_dir, source_split, excluded_rows)
        llm, derive_reason = _melt_labels(melt_dir, source_split) if labels == "melt" else ({}, {})
        turns = []
        for r in rows:
            d, u = _int(r["dialogue_id"]), _int(r["utterance_id"])
            label, note = _turn(r, labels, llm, derive_reason)
            turns.append({"dataset": dataset, "split": split, "dialogue_id": f"{source_split}/dia{d}",
                          "speaker": r["Speaker"], "item_id": f"{source_split}/dia{d}_utt{u}",
                          "audio_path": r["audio_path"] or None, "text": r["Utterance"], "label": label,
                          "score": None, "subset": SUBSET if r["in_subset"] else None, "note": note,
                          "dialogue_order": (list(MELD_SPLITS).index(source_split), d), "utterance": u,
                          "start_s": _seconds(r["start_s"])})
        if turns:
            frames.append(_note_time_disagreement(pd.DataFrame(turns)))
        excluded += [{"dataset": dataset, "split": split, "dialogue_id": f"{source_split}/dia{r['dialogue_id']}",
                      "item_id": f"{source_split}/dia{r['dialogue_id']}_utt{r['utterance_id']}",
                      "reason": f"removed by prepare ({r['prepare_reason']}): no place in a dialogue"}
                     for r in unplaceable]
    turns = number_turns(pd.concat(frames, ignore_index=True), order=["utterance"]) if frames else \
        pd.DataFrame(columns=["dataset"])
    return turns, excluded_frame(excluded)


def _note_time_disagreement(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.sort_values(["dialogue_order", "utterance"], kind="stable").reset_index(drop=True)
    disagree = rows.groupby("dialogue_id", sort=False)["start_s"].transform(
        lambda s: not s.dropna().is_monotonic_increasing)
    rows["note"] = [join_notes(n, "StartTime order differs from Utterance_ID order (Utterance_ID kept)") if m else n
                    for n, m in zip(rows["note"], disagree)]
    return rows
