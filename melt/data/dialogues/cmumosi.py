"""CMU-MOSI dialogues from the raw release: each video is a dialogue of opinion segments.

- `Labels/OpinionLevelSentiment.csv` (no header): `start, end, video_id, segment, score` per segment, the
  sentiment score in [-3, 3] averaged over annotators;
- `Transcript/Segmented/<video_id>.annotprocessed`: one line per segment, `<segment>_DELIMITER_<text>`;
- `Audio/WAV_16000/Segmented/<video_id>_<segment>.wav`.

Turns are ordered by segment start time. Binary label: positive (score ≥ 0) / negative (< 0), the "has-0"
convention; evaluation also reports "non-0" scores (segments scored exactly 0 left out). Splits: the standard
folds of the CMU-MultimodalSDK (`cmu_mosi_std_folds`: 52 train / 10 validation / 31 test videos), below; a video
in none of them is excluded with that reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from melt.data.dialogues import excluded_frame, join_notes, number_turns

LABELS = ("negative", "positive")

# CMU-MultimodalSDK, mmsdk/mmdatasdk/dataset/standard_datasets/CMU_MOSI/cmu_mosi_std_folds.py
STANDARD_FOLDS = {
    "train": (
        "2iD-tVS8NPw", "8d-gEyoeBzc", "Qr1Ca94K55A", "Ci-AH39fi3Y", "8qrpnFRGt2A", "Bfr499ggo-0", "QN9ZIUWUXsY",
        "9T9Hf74oK10", "7JsX8y1ysxY", "1iG0909rllw", "Oz06ZWiO20M", "BioHAh1qJAQ", "9c67fiY0wGQ", "Iu2PFX3z_1s",
        "Nzq88NnDkEk", "Clx4VXItLTE", "9J25DZhivz8", "Af8D0E4ZXaw", "TvyZBvOMOTc", "W8NXH0Djyww", "8OtFthrtaJM",
        "0h-zjBukYpk", "Vj1wYRQjB-o", "GWuJjcEuzt8", "BI97DNYfe5I", "PZ-lDQFboO8", "1DmNV9C1hbY", "OQvJTdtJ2H4",
        "I5y0__X72p0", "9qR7uwkblbs", "G6GlGvlkxAQ", "6_0THN4chvY", "Njd1F0vZSm4", "BvYR0L6f2Ig", "03bSnISJMiM",
        "Dg_0XKD0Mf4", "5W7Z1C_fDaE", "VbQk4H8hgr0", "G-xst2euQUc", "MLal-t_vJPM", "BXuRRbG0Ugk", "LSi-o-IrDMs",
        "Jkswaaud0hk", "2WGyTLYerpo", "6Egk_28TtTM", "Sqr0AcuoNnk", "POKffnXeBds", "73jzhE8R1TQ", "OtBXNcAL_lE",
        "HEsqda8_d0Q", "VCslbP0mgZI", "IumbAb8q2dM"),
    "validation": (
        "WKA5OygbEKI", "c5xsKMxpXnc", "atnd_PF-Lbs", "bvLlb-M3UXU", "bOL9jKpeJRs", "_dI--eQ6qVU", "ZAIRrfG22O0",
        "X3j2zQgwYgE", "aiEXnCPZubE", "ZUXBRvtny7o"),
    "test": (
        "tmZoasNr4rU", "zhpQhgha_KU", "lXPQBPVc5Cw", "iiK8YX8oH1E", "tStelxIAHjw", "nzpVDcQ0ywM", "etzxEpPuc6I",
        "cW1FSBF59ik", "d6hH302o4v8", "k5Y_838nuGo", "pLTX3ipuDJI", "jUzDDGyPkXU", "f_pcplsH_V0", "yvsjCA6Y5Fc",
        "nbWiPyCm4g0", "rnaNMUZpvvg", "wMbj6ajWbic", "cM3Yna7AavY", "yDtzw_Y-7RU", "vyB00TXsimI", "dq3Nf_lMPnE",
        "phBUpBr1hSo", "d3_k5Xpfmik", "v0zCBqDeKcE", "tIrG4oNLFzE", "fvVhgmXxadc", "ob23OKe5a9Q", "cXypl4FnoZo",
        "vvZ4IcEtiZc", "f9O3YtZ2VfI", "c7UH_rxdZv4"),
}
_LINE = re.compile(r"^(\d+)_DELIMITER_(.*)$")


def binary_label(score: float) -> str:
    return "positive" if score >= 0 else "negative"


def read_transcript(path: Path) -> tuple[dict[int, str], list[int], list[str]]:
    """(segment → text, segments in file order, problems) of one `.annotprocessed` file."""
    texts, order, problems = {}, [], []
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line.strip())
        if not m:
            problems.append(f"{path}: line {i}: not '<segment>_DELIMITER_<text>'")
            continue
        texts[int(m.group(1))] = m.group(2).strip()
        order.append(int(m.group(1)))
    return texts, order, problems


def read_cmumosi_dialogues(root: str | Path, dataset: str = "cmumosi") -> tuple[pd.DataFrame, pd.DataFrame]:
    root = Path(root)
    labels_path = root / "Labels" / "OpinionLevelSentiment.csv"
    if not labels_path.is_file():
        raise FileNotFoundError(f"{labels_path}: missing (expected the CMU-MOSI raw release layout)")
    try:
        labels = pd.read_csv(labels_path, header=None, names=["start", "end", "video", "segment", "score"],
                             dtype={"video": str})
        labels["segment"] = labels["segment"].astype(int)
        labels[["start", "end", "score"]] = labels[["start", "end", "score"]].astype(float)
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{labels_path}: not 'start,end,video_id,segment,score' rows: {err}") from None
    split_of = {v: split for split, videos in STANDARD_FOLDS.items() for v in videos}
    rows, excluded = [], []
    for video, group in labels.groupby("video", sort=True):
        split = split_of.get(video)
        if split is None:
            excluded += [{"dataset": dataset, "split": None, "dialogue_id": video, "item_id": f"{video}_{s}",
                          "reason": "video not in the standard CMU-MOSI folds"} for s in group["segment"]]
            continue
        transcript = root / "Transcript" / "Segmented" / f"{video}.annotprocessed"
        texts, file_order, problems = read_transcript(transcript) if transcript.is_file() else ({}, [], [])
        excluded += [{"dataset": dataset, "split": split, "dialogue_id": video, "item_id": None, "reason": p}
                     for p in problems]
        position = {s: i for i, s in enumerate(file_order)}
        for r in group.itertuples(index=False):
            item = f"{video}_{r.segment}"
            if r.segment not in texts:
                why = f"no line {r.segment} in {transcript}" if transcript.is_file() else f"{transcript} missing"
                excluded.append({"dataset": dataset, "split": split, "dialogue_id": video, "item_id": item,
                                 "reason": f"no transcript: {why}"})
                continue
            in_range = -3.0 <= r.score <= 3.0
            note = None if in_range else f"context only: sentiment {r.score} outside [-3, 3] ({labels_path})"
            wav = root / "Audio" / "WAV_16000" / "Segmented" / f"{item}.wav"
            if not wav.is_file():
                note = join_notes(note, f"audio missing: {wav} (text only)")
            rows.append({"dataset": dataset, "split": split, "dialogue_id": video, "speaker": video, "item_id": item,
                         "audio_path": str(wav), "text": texts[r.segment],
                         "label": binary_label(r.score) if in_range else None, "score": r.score, "note": note, "dialogue_order": (list(STANDARD_FOLDS).index(split), video),
                         "start": r.start, "source_order": position[r.segment]})
    if not rows:
        raise FileNotFoundError(f"{root}: no CMU-MOSI segment with a transcript in the standard folds")
    turns = number_turns(pd.DataFrame(rows), order=["start", "source_order"],
                         reorder_note="transcript lines out of time order: turns ordered by start time")
    return turns, excluded_frame(excluded)
