"""MELD-format dialogues (MELD itself, or the demo sitcom) from `data/prepared` + `data/melt`.

The turns are the prepared rows: the MELT paper's filter (utterances ≥ 1 s by named speakers, ≥ 3 words) has
already removed utterances from the dialogues; the remaining turns keep their order (Utterance_ID, the order of
the script) and are renumbered from 0, and every removed utterance is listed with prepare's reason. MELD's
timestamps disagree with its Utterance_ID order in a few dialogues (23 / 4 / 4 of train / dev / test): those
turns are noted, and Utterance_ID order is kept.

Labels: `melt` = `llm_label` of data/melt, `meld` = MELD's `Emotion`. A turn is scored only when it has a valid
label in *both* sets, so the MELT and the MELD model see and are scored on the same turns; any other turn is
context only, with the reason in its note.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from melt.data.dialogues import excluded_frame, join_notes, number_turns
from melt.data.labels import normalize_emotion

MELD_SPLITS = {"train": "train", "dev": "validation", "test": "test"}   # MELD's names → ERC split names
LABEL_COLUMNS = {"melt": "llm_label", "meld": "Emotion"}


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what})")
    return pd.read_csv(path, dtype={"Emotion": str, "llm_label": str, "Utterance": str}, keep_default_na=False)


def _check_columns(df: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")


def read_meld_dialogues(prepared_dir: str | Path, melt_dir: str | Path, dataset: str,
                        labels: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(turns, excluded) of a MELD-format corpus; `labels` is `melt` or `meld`."""
    if labels not in LABEL_COLUMNS:
        raise ValueError(f"{dataset}: unknown label set {labels!r} (known: {', '.join(LABEL_COLUMNS)})")
    prepared_dir, melt_dir = Path(prepared_dir), Path(melt_dir)
    melt_excluded = _read(melt_dir / "excluded.csv", "run the derive stage first")
    derive_reason = {(r.split, int(r.dialogue_id), int(r.utterance_id)): f"{r.reason}: {r.detail}" if r.detail else r.reason
                     for r in melt_excluded.itertuples()}
    frames, excluded = [], []
    for source_split, split in MELD_SPLITS.items():
        path = prepared_dir / f"{source_split}.csv"
        prepared = _read(path, "run the prepare stage first")
        _check_columns(prepared, path, ("dialogue_id", "utterance_id", "Speaker", "Utterance", "Emotion",
                                        "audio_path", "start_s"))
        melt_path = melt_dir / f"{source_split}.csv"
        melt = _read(melt_path, "run the derive stage first")
        _check_columns(melt, melt_path, ("dialogue_id", "utterance_id", "llm_label"))
        llm = {(int(d), int(u)): v for d, u, v in zip(melt["dialogue_id"], melt["utterance_id"], melt["llm_label"])}
        rows = []
        for i, r in enumerate(prepared.itertuples(index=False)):
            d, u = int(r.dialogue_id), int(r.utterance_id)
            key = (source_split, d, u)
            melt_label = normalize_emotion(llm.get((d, u)))
            meld_label = normalize_emotion(r.Emotion)
            note = None
            if melt_label is None:
                why = (f"derive: {derive_reason[key]}" if key in derive_reason and (d, u) not in llm
                       else f"llm_label {llm.get((d, u))!r} is not one of the seven")
                note = f"context only: no valid MELT label ({why})"
            elif meld_label is None:
                note = f"context only: MELD Emotion {r.Emotion!r} is not one of the seven"
            audio = r.audio_path if isinstance(r.audio_path, str) and r.audio_path else None
            if audio is None:
                note = join_notes(note, "audio missing: no audio in data/prepared (text only)")
            elif not Path(audio).is_file():
                note = join_notes(note, f"audio missing: {audio} (text only)")
            label = {"melt": melt_label, "meld": meld_label}[labels] if melt_label and meld_label else None
            rows.append({"dataset": dataset, "split": split, "dialogue_id": f"{source_split}/dia{d}",
                         "speaker": r.Speaker, "item_id": f"{source_split}/dia{d}_utt{u}", "audio_path": audio,
                         "text": r.Utterance, "label": label, "score": None, "note": note,
                         "dialogue_order": (list(MELD_SPLITS).index(source_split), d), "utterance": u,
                         "start_s": float(r.start_s), "source_order": i})
        if rows:
            frames.append(_note_time_disagreement(pd.DataFrame(rows)))
        excluded += _filtered(prepared_dir, source_split, split, dataset)
    turns = number_turns(pd.concat(frames, ignore_index=True), order=["utterance"]) if frames else \
        pd.DataFrame(columns=["dataset"])
    return turns, excluded_frame(excluded)


def _note_time_disagreement(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.sort_values(["dialogue_order", "utterance"], kind="stable").reset_index(drop=True)
    disagree = rows.groupby("dialogue_id", sort=False)["start_s"].transform(lambda s: not s.is_monotonic_increasing)
    rows["note"] = [join_notes(n, "StartTime order differs from Utterance_ID order (Utterance_ID kept)") if m else n
                    for n, m in zip(rows["note"], disagree)]
    return rows


def _filtered(prepared_dir: Path, source_split: str, split: str, dataset: str) -> list[dict]:
    """prepare's exclusions of one split: utterances removed from their dialogues by the paper's filter."""
    path = prepared_dir / "excluded.csv"
    if not path.is_file():
        return []
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df[df["split"] == source_split]
    out = []
    for r in df.itertuples(index=False):
        ids = f"dia{r.dialogue_id}_utt{r.utterance_id}" if r.dialogue_id.isdigit() and r.utterance_id.isdigit() \
            else f"row{r.row}"
        out.append({"dataset": dataset, "split": split, "dialogue_id": f"{source_split}/dia{r.dialogue_id}",
                    "item_id": f"{source_split}/{ids}",
                    "reason": f"removed by prepare ({r.reason}: {r.detail})" if r.detail else f"removed by prepare ({r.reason})"})
    return out
