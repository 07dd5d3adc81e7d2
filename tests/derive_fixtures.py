"""Fixture writers for the derive/analyze/publish tests: prepared CSVs and annotation records in exactly
the layouts the prepare and annotate stages write."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from melt.data.labels import EMOTIONS
from melt.data.meld import PREPARED_COLUMNS

SPEAKERS = ("Ross", "Rachel", "Monica", "Joey")
OUT_OF_SET = ("frustration", "comfort", "excited")


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


def write_panel_json(folder: Path, samples: dict[str, int], inputs: dict[str, str] | None = None, **settings) -> None:
    """folder/panel.json as annotate writes it beside one folder per annotator (annotator → samples, in order;
    `settings` added to every annotator's entry, e.g. base_url)."""
    folder.mkdir(parents=True, exist_ok=True)
    panel = {name: {"backend": "offline", "model": "test-heuristic", "input": (inputs or {}).get(name, "text"),
                    "prompt": "melt-v1", "provider": "offline", "base_url": None, "temperature": 1.0, "top_p": 1.0,
                    "max_tokens": 400, "response_format": "json_object", "seed": 0, "samples": n,
                    "max_invalid_retries": 2, "labels_files": {}, **settings} for name, n in samples.items()}
    (folder / "panel.json").write_text(json.dumps({"annotators": panel}), encoding="utf-8")


def write_annotations(folder: Path, prepared: dict[str, pd.DataFrame], samples: int = 1, seed: int = 1,
                      name: str = "llm", panel: bool = True) -> dict:
    """Random but reproducible answers of annotator `name` (folder/<name>/{split}.jsonl; with `panel`, a
    folder/panel.json of that one annotator): mostly the MELD label, sometimes another, a few invalid."""
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
        write_jsonl(folder / name / f"{split}.jsonl", recs)
        written[split] = recs
    if panel:
        write_panel_json(folder, {name: samples})
    return written


def released_melt_files(folder: Path, prepared: dict[str, pd.DataFrame], seed: int = 3,
                        splits: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Labels files in the released MELT layout (`filename, Sr_No., ..., llm_label`) for `splits` (default: all
    of `prepared`), with out-of-set (`frustration` on the first row of each file) and mixed-case labels, as
    `annotate.labels_files` reads them."""
    from melt.analysis.layout import RELEASED_COLUMNS

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, df in prepared.items():
        if splits is not None and split not in splits:
            continue
        rows = []
        for i, r in enumerate(df.to_dict("records")):
            x = rng.random()
            label = "frustration" if i == 0 else (rng.choice(OUT_OF_SET) if x < 0.1 else r["Emotion"] if x < 0.55
                     else rng.choice(EMOTIONS).title() if x < 0.6 else rng.choice(EMOTIONS))
            rows.append({"filename": r["filename"], "Sr_No.": r["Sr No."], "Utterance": r["Utterance"],
                         "Speaker": r["Speaker"], "Emotion": r["Emotion"], "Sentiment": r["Sentiment"],
                         "Dialogue_ID": r["Dialogue_ID"], "Utterance_ID": r["Utterance_ID"], "Season": r["Season"],
                         "Episode": r["Episode"], "StartTime": r["StartTime"], "EndTime": r["EndTime"], "llm_label": label})
        paths[split] = folder / f"MELT_{split}.csv"
        pd.DataFrame(rows, columns=list(RELEASED_COLUMNS)).to_csv(paths[split], index=False)
    return paths


def import_labels_files(files: dict[str, Path], prepared_dir: Path, prompts_dir: Path, annotations_dir: Path,
                        work_dir: Path, templates_dir: Path):
    """The real `prompts` + `annotate` entry points, as the stages call them, with a panel of one annotator `llm`
    (backend labels-file); returns the AnnotateParams used."""
    from melt.annotate.params import AnnotateParams, AnnotatorParams, PromptsParams
    from melt.annotate.requests import write_prompts
    from melt.annotate.run import annotate

    params = AnnotateParams(annotators={"llm": AnnotatorParams(backend="labels-file", labels_files=files)})
    write_prompts(prepared_dir, prompts_dir, PromptsParams(), params, templates_dir=templates_dir)
    annotate(params.model_copy(update={"store": str(work_dir / "store")}), prompts_dir=prompts_dir,
             out_dir=annotations_dir, snapshot_dir=work_dir / "snapshot", report_path=work_dir / "annotate_report.json",
             metrics_path=work_dir / "annotate.json", progress=False)
    return params
