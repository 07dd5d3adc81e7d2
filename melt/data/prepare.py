"""The `prepare` stage: a MELD-format corpus → prepared rows, recorded exclusions, Table 1.

Every input row ends in exactly one place: ``{split}.csv`` or ``excluded.csv`` with a reason.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from melt.data.audio import AudioError, audio_duration, convert_to_wav, find_audio, split_audio_dir
from melt.data.labels import EMOTIONS, normalize_emotion
from melt.data.meld import PREPARED_COLUMNS, SPLITS, audio_stem, csv_path, read_meld_csv
from melt.data.params import DataParams, PrepareParams
from melt.data.text import count_words, repair_mojibake
from melt.data.times import parse_timestamp
from melt.io import write_csv, write_json

EXCLUDED_COLUMNS = ("reason", "detail", "row", *PREPARED_COLUMNS)

# Columns later stages parse as integers (prompts renders Season/Episode, publish types them all).
INTEGER_COLUMNS = ("Sr No.", "Season", "Episode")
# Exclusion reasons, in the order they are checked (a row gets the first that applies).
REASONS = (
    "invalid_id", "duplicate_key", "invalid_value", "empty_utterance", "bad_timestamp", "reversed_timestamps",
    "audio_missing", "audio_unreadable", "too_short", "too_few_words", "generic_speaker", "rare_speaker",
)


@dataclass(frozen=True)
class Prepared:
    splits: dict[str, pd.DataFrame]
    excluded: pd.DataFrame
    speakers: list[str]
    repaired_rows: dict[str, int]


def _non_negative_int(value: str) -> int | None:
    """A non-negative integer written in ASCII digits (int() alone would also take '1_0' or '+1')."""
    text = str(value).strip()
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def _invalid_value(rec: dict) -> str | None:
    """The first column a later stage could not parse, as a detail naming the column and the value;
    None (and the integers written canonically, e.g. ' 01' → 1) when every value parses."""
    parsed = {}
    for col in INTEGER_COLUMNS:
        parsed[col] = _non_negative_int(rec[col])
        if parsed[col] is None:
            return f"{col} {rec[col]!r} is not a non-negative integer"
    if normalize_emotion(rec["Emotion"]) is None:
        return f"Emotion {rec['Emotion']!r} is not one of {', '.join(EMOTIONS)}"
    rec.update(parsed, Dialogue_ID=rec["dialogue_id"], Utterance_ID=rec["utterance_id"])
    return None


def _annotate_rows(df: pd.DataFrame, split: str, source: Path) -> list[dict]:
    """Keys, text repair, timestamps; the first integrity problem of each row as its reason."""
    rows, first_row_of_key = [], {}
    for rec in df.to_dict("records"):
        rec = {"split": split, "reason": "", "detail": "", **rec}
        for col in ("Utterance", "Speaker"):
            fixed = repair_mojibake(rec[col])
            rec["text_repaired"] = rec.get("text_repaired", False) or fixed != rec[col]
            rec[col] = fixed
        rec["Speaker"] = rec["Speaker"].strip().lower()
        rec["words"] = count_words(rec["Utterance"])
        d, u = _non_negative_int(rec["Dialogue_ID"]), _non_negative_int(rec["Utterance_ID"])
        rec["dialogue_id"], rec["utterance_id"] = d, u
        rec["filename"] = f"{audio_stem(d, u)}.wav" if d is not None and u is not None else ""
        rows.append(rec)
        if d is None or u is None:
            bad = "Dialogue_ID" if d is None else "Utterance_ID"
            _exclude(rec, "invalid_id", f"{bad} {rec[bad]!r} is not a non-negative integer")
            continue
        if (d, u) in first_row_of_key:
            _exclude(rec, "duplicate_key", f"same Dialogue_ID/Utterance_ID as row {first_row_of_key[d, u]} of {source.name}")
            continue
        first_row_of_key[d, u] = rec["row"]
        problem = _invalid_value(rec)
        if problem:
            _exclude(rec, "invalid_value", problem)
            continue
        if not rec["Utterance"].strip():
            _exclude(rec, "empty_utterance", "Utterance is empty")
            continue
        try:
            rec["start_s"] = parse_timestamp(rec["StartTime"])
            rec["end_s"] = parse_timestamp(rec["EndTime"])
        except ValueError as err:
            _exclude(rec, "bad_timestamp", str(err))
            continue
        if rec["end_s"] <= rec["start_s"]:
            _exclude(rec, "reversed_timestamps", f"EndTime {rec['EndTime']} is not after StartTime {rec['StartTime']}")
    return rows


def _exclude(rec: dict, reason: str, detail: str) -> None:
    rec["reason"], rec["detail"] = reason, detail


def _attach_audio(rows: list[dict], folder: Path, convert_dir: Path, workers: int) -> None:
    """Audio path and duration per row; .mp4 files are converted to 16 kHz mono WAV first."""
    todo = []
    for rec in rows:
        if rec["reason"]:
            continue
        found = find_audio(folder, audio_stem(rec["dialogue_id"], rec["utterance_id"]))
        if found is None:
            _exclude(rec, "audio_missing", f"no {rec['filename']} (or .flac/.mp4) in {folder}")
        else:
            todo.append((rec, found))

    def resolve(item):
        rec, path = item
        try:
            if path.suffix == ".mp4":
                path = convert_to_wav(path, convert_dir / rec["split"] / rec["filename"])
            return rec, path, audio_duration(path), None
        except AudioError as err:
            return rec, path, None, str(err)

    desc = f"audio {rows[0]['split'] if rows else ''}"
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rec, path, duration, error in tqdm(pool.map(resolve, todo), total=len(todo), desc=desc, unit="file"):
            if error:
                _exclude(rec, "audio_unreadable", error)
            else:
                rec["audio_path"], rec["duration_s"], rec["duration_source"] = path.as_posix(), duration, "audio"


def _apply_filter(rows: list[dict], params: PrepareParams) -> None:
    generic = {s.strip().lower() for s in params.exclude_speakers}
    for rec in rows:
        if rec["reason"]:
            continue
        if rec.get("duration_source") != "audio":
            rec["duration_s"], rec["duration_source"] = rec["end_s"] - rec["start_s"], "timestamps"
        if rec["duration_s"] < params.min_duration_s:
            _exclude(rec, "too_short", f"{rec['duration_s']:.3f} s < {params.min_duration_s} s ({rec['duration_source']})")
        elif rec["words"] < params.min_words:
            _exclude(rec, "too_few_words", f"{rec['words']} word(s) < {params.min_words}")
        elif rec["Speaker"] in generic:
            _exclude(rec, "generic_speaker", f"{rec['Speaker']!r} is in prepare.exclude_speakers")


def _named_speakers(train_rows: list[dict], min_count: int) -> tuple[list[str], Counter]:
    counts = Counter(r["Speaker"] for r in train_rows if not r["reason"])
    return sorted(s for s, n in counts.items() if n >= min_count), counts


def prepare_corpus(
    csv_dir: Path, audio_dir: Path | None, params: PrepareParams, convert_dir: Path
) -> Prepared:
    rows: dict[str, list[dict]] = {}
    repaired = {}
    for split in SPLITS:
        path = csv_path(csv_dir, split)
        rows[split] = _annotate_rows(read_meld_csv(path, params.csv_encoding), split, path)
        repaired[split] = sum(bool(r["text_repaired"]) for r in rows[split])
        if audio_dir is not None:
            _attach_audio(rows[split], split_audio_dir(Path(audio_dir), split), convert_dir, params.convert_workers)
        _apply_filter(rows[split], params)

    speakers, counts = _named_speakers(rows["train"], params.min_speaker_utterances)
    keep = set(speakers)
    for split in SPLITS:
        for rec in rows[split]:
            if not rec["reason"] and rec["Speaker"] not in keep:
                _exclude(rec, "rare_speaker", f"{rec['Speaker']!r} has {counts.get(rec['Speaker'], 0)} qualifying "
                         f"train utterance(s) < {params.min_speaker_utterances}")

    splits, excluded = {}, []
    for split in SPLITS:
        df = pd.DataFrame(rows[split])
        for col in EXCLUDED_COLUMNS:
            if col not in df.columns:
                df[col] = None
        bad = df["reason"] != ""
        excluded.append(df.loc[bad, list(EXCLUDED_COLUMNS)])
        kept = df.loc[~bad, list(PREPARED_COLUMNS)].copy()
        kept["dialogue_id"] = kept["dialogue_id"].astype(int)
        kept["utterance_id"] = kept["utterance_id"].astype(int)
        kept["audio_path"] = kept["audio_path"].fillna("")
        splits[split] = kept.reset_index(drop=True)
    return Prepared(splits, pd.concat(excluded, ignore_index=True), speakers, repaired)


def table1(prepared: Prepared, source: str) -> dict:
    """The report: paper Table 1 per split, the exclusion counts by reason and the speaker list."""
    per_split, excluded, durations = {}, {}, {}
    for split, df in prepared.splits.items():
        per_split[split] = {
            "utterances": int(len(df)),
            "speakers": int(df["Speaker"].nunique()),
            "mean_seconds": round(float(df["duration_s"].mean()), 3) if len(df) else 0.0,
            "text_repaired_rows": int(prepared.repaired_rows[split]),
        }
        ex = prepared.excluded[prepared.excluded["split"] == split]
        excluded[split] = {reason: int((ex["reason"] == reason).sum()) for reason in REASONS}
        durations[split] = {src: int((df["duration_source"] == src).sum()) for src in ("audio", "timestamps")}
    return {
        "source": source,
        "table1": per_split,
        "excluded": excluded,
        "duration_source": durations,
        "n_speakers": len(prepared.speakers),
        "speakers": prepared.speakers,
    }


def headline(report: dict) -> dict:
    """The declared metrics: rows kept per split (details stay in the report)."""
    return {split: {"kept": row["utterances"]} for split, row in report["table1"].items()}


def run(data: DataParams, params: PrepareParams, out_dir: Path, metrics_path: Path, report_path: Path | None = None) -> dict:
    """Writes the prepared CSVs, the headline metrics and (unless None) the report; returns the report."""
    out_dir = Path(out_dir)
    prepared = prepare_corpus(data.csv_dir, data.audio_dir, params, convert_dir=out_dir / "audio")
    for split, df in prepared.splits.items():
        write_csv(df, out_dir / f"{split}.csv")
    write_csv(prepared.excluded, out_dir / "excluded.csv")
    report = table1(prepared, data.source)
    if report_path is not None:
        write_json(report_path, report)
    write_json(metrics_path, headline(report))
    return report
