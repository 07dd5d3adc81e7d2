"""The `labels-file` backend: import labels that already exist (e.g. the released MELT CSVs).

A released MELT CSV has MELD's columns (`Sr_No.`, lower-case `Speaker`), a leading `filename`
(`dia{D}_utt{U}.wav`) and `llm_label`. Rows join the requests on split + dialogue + utterance.
Out-of-set labels (the release has e.g. `frustration`) are recorded as invalid, never coerced.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from melt.data.labels import normalize_emotion

REQUIRED = ("Dialogue_ID", "Utterance_ID", "llm_label")


def load_labels(path: Path) -> dict[tuple[int, int], str]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: labels file not found (an annotator's labels_files)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected a MELT CSV with {list(REQUIRED)}")
    labels: dict[tuple[int, int], str] = {}
    for n, rec in enumerate(df.to_dict("records"), start=2):   # line 1 is the header
        try:
            key = (int(rec["Dialogue_ID"]), int(rec["Utterance_ID"]))
        except ValueError:
            raise ValueError(f"{path}: line {n}: Dialogue_ID/Utterance_ID not integers "
                             f"({rec['Dialogue_ID']!r}, {rec['Utterance_ID']!r})") from None
        if key in labels:
            raise ValueError(f"{path}: line {n}: duplicate dialogue {key[0]} utterance {key[1]}")
        labels[key] = rec["llm_label"]
    return labels


def label_record(prompt: dict, labels: dict | None, source: str | None) -> dict:
    out = {"split": prompt["split"], "dialogue_id": prompt["dialogue_id"], "utterance_id": prompt["utterance_id"],
           "sample": prompt["sample"], "key": prompt["key"], "backend": "labels-file", "model": source or "labels-file",
           "status": "failed", "label": None, "parsed": None, "raw": None, "error": None,
           "prompt_tokens": 0, "completion_tokens": 0, "asks": 0}
    if labels is None:
        out["error"] = f"no labels file for split {prompt['split']!r} (the annotator's labels_files)"
        return out
    raw = labels.get((prompt["dialogue_id"], prompt["utterance_id"]))
    if raw is None:
        out["error"] = f"dialogue {prompt['dialogue_id']} utterance {prompt['utterance_id']} not in {source}"
        return out
    label = normalize_emotion(raw)
    out.update(raw=raw, parsed={"elements": {"emotion": raw}}, label=label,
               status="ok" if label else "invalid", error=None if label else f"out-of-set label {raw.strip()!r}")
    return out
