"""Fixture writers for the derive/analyze/publish tests: prepared CSVs and annotation records in exactly
the layouts the prepare and annotate stages write."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from melt.data.labels import EMOTIONS
from melt.data.prepare import PREPARED_COLUMNS

SPEAKERS = ("Ross", "Rachel", "Monica", "Joey")


def prepared_rows(split: str, n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(f"{split}{seed}")
    rows = []
    for i in range(n):
        d, u = i // 3, i % 3
        rows.append({
            "split": split, "dialogue_id": d, "utterance_id": u, "filename": f"dia{d}_utt{u}.wav",
            "Sr No.": i + 1, "Utterance": f"Line {i} of {split}, said with feeling", "Speaker": rng.choice(SPEAKERS).lower(),
            "Emotion": rng.choice(EMOTIONS), "Sentiment": "neutral", "Dialogue_ID": d, "Utterance_ID": u,
            "Season": 1, "Episode": 2, "StartTime": "00:00:01,000", "EndTime": "00:00:03,500",
            "start_s": 1.0, "end_s": 3.5, "duration_s": 2.5, "duration_source": "audio",
            "audio_path": f"demo/sitcom/audio/{split}/dia{d}_utt{u}.wav", "text_repaired": False, "words": 7,
        })
    return rows


def write_prepared(folder: Path, sizes=(("train", 24), ("dev", 9), ("test", 12))) -> dict[str, pd.DataFrame]:
    out = {}
    for split, n in sizes:
        df = pd.DataFrame(prepared_rows(split, n), columns=list(PREPARED_COLUMNS))
        (folder).mkdir(parents=True, exist_ok=True)
        df.to_csv(folder / f"{split}.csv", index=False)
        out[split] = df
    return out


def record(split, d, u, sample, label, *, status="ok", character="Ross", raw_label=None, error=None):
    """One annotation line as the annotate stage writes it (contracts.md)."""
    emotion = raw_label if raw_label is not None else label
    parsed = None if status == "failed" else {
        "character": character, "context": f"context of dia{d}_utt{u}",
        "elements": {"emotion": (emotion or "").title(), "loudness": "loud", "pitch": "high",
                     "rhythm_speed": "fast", "emotional_impact": "strong"}}
    return {"split": split, "dialogue_id": d, "utterance_id": u, "sample": sample,
            "key": f"{split}{d:04d}{u:03d}{sample:02d}", "backend": "offline", "model": "test-heuristic",
            "status": status, "label": label if status == "ok" else None, "parsed": parsed,
            "raw": json.dumps(parsed), "error": error if status != "ok" else None,
            "prompt_tokens": 10, "completion_tokens": 5, "latency_s": 0.0, "attempts": 1}


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def write_annotations(folder: Path, prepared: dict[str, pd.DataFrame], samples: int = 1, seed: int = 1) -> dict:
    """Random but reproducible answers: mostly the MELD label, sometimes another, a few invalid."""
    rng = random.Random(seed)
    written = {}
    for split, df in prepared.items():
        recs = []
        for row in df.to_dict("records"):
            for s in range(samples):
                r = rng.random()
                if r < 0.08:
                    recs.append(record(split, row["dialogue_id"], row["utterance_id"], s, None, status="invalid",
                                       raw_label="frustration", error="out-of-set label 'frustration'"))
                else:
                    label = row["Emotion"] if r < 0.6 else rng.choice(EMOTIONS)
                    recs.append(record(split, row["dialogue_id"], row["utterance_id"], s, label,
                                       character=row["Speaker"].title() if r < 0.9 else "Chandler"))
        write_jsonl(folder / f"{split}.jsonl", recs)
        written[split] = recs
    return written
