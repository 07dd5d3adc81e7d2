"""The study set: a seeded, stratified sample of MELT–MELD disagreements, attention checks, the review queue and
the conversation context of each queued utterance.

`data/study` is a pure function of `data/melt`, `data/prepared` and the params: candidates are sorted by their
key before sampling, and each MELD emotion draws from its own random stream (seeded by `study.seed` and the
emotion's name), so adding an emotion or changing another's count never reshuffles this one. Rows are named by
their key (split, dialogue, utterance); the public ids the app shows are keyed by a secret of its database
(`melt.study.keys`) and never written here.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from melt.analysis.layout import read_melt_csv
from melt.data.audio import split_audio_dir
from melt.data.meld import SPLITS, audio_stem
from melt.io import write_csv, write_json
from melt.study.params import StudyParams

ITEM_COLUMNS: tuple[str, ...] = (
    "kind", "split", "dialogue_id", "utterance_id", "filename", "Speaker", "Utterance",
    "meld_label", "melt_label", "llm_confidence", "option_1", "source_1", "option_2", "source_2",
    "media", "audio_path", "video_path", "duration_s",
)
QUEUE_COLUMNS: tuple[str, ...] = (
    "queue_rank", "split", "dialogue_id", "utterance_id", "filename", "Speaker", "Utterance", "context",
    "meld_label", "llm_label", "llm_confidence", "llm_votes", "vote_margin", "loudness", "pitch", "rhythm_speed",
    "emotional_impact", "media", "audio_path", "video_path",
)
# One row per preceding turn of a queued utterance (`turn` -1 is the turn right before it).
CONTEXT_COLUMNS: tuple[str, ...] = (
    "split", "dialogue_id", "utterance_id", "turn", "turn_utterance_id", "Speaker", "Utterance", "media",
    "audio_path", "video_path",
)
PANEL_FILE = "panel.json"
PANEL_FIELDS = ("backend", "model", "input", "prompt")
# Prepared rows without a usable key cannot be placed in a conversation.
UNPLACEABLE = ("invalid_id", "duplicate_key")
KEY_ORDER = ["_split_order", "dialogue_id", "utterance_id"]


def _vote_margin(votes: str) -> float:
    """(top − second) / total of a `llm_votes` JSON; 1.0 for a single vote or unanimous samples."""
    try:
        counts = sorted(json.loads(votes).values(), reverse=True) if votes else []
    except (json.JSONDecodeError, AttributeError):
        counts = []
    total = sum(counts)
    if not total:
        return 1.0
    return (counts[0] - (counts[1] if len(counts) > 1 else 0)) / total


def _video_path(audio_dir: Path | None, split: str, dialogue_id: int, utterance_id: int) -> str:
    if audio_dir is None:
        return ""
    try:
        folder = split_audio_dir(Path(audio_dir), split)
    except FileNotFoundError:
        return ""
    video = folder / f"{audio_stem(dialogue_id, utterance_id)}.mp4"
    return video.as_posix() if video.is_file() else ""


def load_melt_rows(melt_dir: Path, splits: tuple[str, ...], audio_dir: Path | None, media: str) -> pd.DataFrame:
    """Every MELT row of `splits` with its key as ints, normalised labels, video path and chosen media."""
    frames = []
    for split in splits:
        df = read_melt_csv(Path(melt_dir) / f"{split}.csv")
        frames.append(df)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    rows["dialogue_id"] = rows["dialogue_id"].astype(int)
    rows["utterance_id"] = rows["utterance_id"].astype(int)
    rows["meld_label"] = rows["Emotion"].str.strip().str.lower()
    rows["melt_label"] = rows["llm_label"].str.strip().str.lower()
    return _with_media(rows, audio_dir, media)


def _with_media(rows: pd.DataFrame, audio_dir: Path | None, media: str) -> pd.DataFrame:
    """Video path, the media a row plays (`study.media`), sorted by key."""
    rows["video_path"] = [_video_path(audio_dir, s, d, u)
                          for s, d, u in zip(rows["split"], rows["dialogue_id"], rows["utterance_id"])]
    if media == "audio":
        rows["media"] = np.where(rows["audio_path"] != "", "audio", "")
    elif media == "video":
        rows["media"] = np.where(rows["video_path"] != "", "video", "")
    else:
        rows["media"] = np.where(rows["video_path"] != "", "video", np.where(rows["audio_path"] != "", "audio", ""))
    rows["_split_order"] = rows["split"].map({s: i for i, s in enumerate(SPLITS)})
    return rows.sort_values(KEY_ORDER, kind="stable").reset_index(drop=True)


def load_turns(prepared_dir: Path, splits: tuple[str, ...], audio_dir: Path | None, media: str) -> pd.DataFrame:
    """Every prepared utterance of `splits` that has a key, kept or excluded (a turn the paper's filter dropped,
    e.g. a short "Oh." or a line by "all", is still part of the conversation)."""
    prepared_dir = Path(prepared_dir)
    columns = ["split", "dialogue_id", "utterance_id", "Speaker", "Utterance", "audio_path"]
    frames = [pd.read_csv(prepared_dir / f"{split}.csv", dtype=str, keep_default_na=False)[columns]
              for split in splits]
    excluded_path = prepared_dir / "excluded.csv"
    if excluded_path.is_file():
        ex = pd.read_csv(excluded_path, dtype=str, keep_default_na=False)
        frames.append(ex[ex["split"].isin(splits) & ~ex["reason"].isin(UNPLACEABLE)][columns])
    turns = pd.concat(frames, ignore_index=True)
    turns["dialogue_id"] = turns["dialogue_id"].astype(int)
    turns["utterance_id"] = turns["utterance_id"].astype(int)
    return _with_media(turns, audio_dir, media)


def context_table(queue: pd.DataFrame, turns: pd.DataFrame, n_turns: int) -> pd.DataFrame:
    """The `n_turns` turns before each queued utterance in its dialogue, oldest first."""
    out = []
    if n_turns > 0:
        dialogues = {key: group for key, group in turns.groupby(["split", "dialogue_id"], sort=False)}
        for split, d, u in zip(queue["split"], queue["dialogue_id"], queue["utterance_id"]):
            group = dialogues.get((split, d))
            if group is None:
                continue
            before = group[group["utterance_id"] < u].tail(n_turns)
            for offset, t in zip(range(-len(before), 0), before.to_dict("records")):
                out.append({"split": split, "dialogue_id": d, "utterance_id": u, "turn": offset,
                            "turn_utterance_id": t["utterance_id"], **{c: t[c] for c in CONTEXT_COLUMNS[5:]}})
    return pd.DataFrame(out, columns=list(CONTEXT_COLUMNS))


def read_panel(melt_dir: Path) -> dict | None:
    """derive's `panel.json` (which annotators labelled, with what input), or None for a single-annotator MELT."""
    path = Path(melt_dir) / PANEL_FILE
    if not path.is_file():
        return None
    panel = json.loads(path.read_text(encoding="utf-8"))
    annotators = panel.get("annotators") if isinstance(panel, dict) else None
    if not isinstance(annotators, dict) or not annotators:
        raise ValueError(f"{path}: expected {{'aggregate': ..., 'annotators': {{name: settings}}}}")
    return {"aggregate": panel.get("aggregate"),
            "annotators": {name: {k: (s or {}).get(k) for k in PANEL_FIELDS} for name, s in annotators.items()}}


def panel_columns(panel: dict | None) -> list[str]:
    if panel is None:
        return []
    return ["panel_agreement", *(f"label_{name}" for name in panel["annotators"])]


def _draw(candidates: pd.DataFrame, k: int, seed: int, stream: str) -> pd.DataFrame:
    """`k` rows without replacement from a stream of its own; kept in key order."""
    if len(candidates) <= k:
        return candidates
    rng = np.random.default_rng([seed, zlib.crc32(stream.encode())])
    picked = np.sort(rng.choice(len(candidates), size=k, replace=False))
    return candidates.iloc[picked]


def _item_frame(rows: pd.DataFrame, kind: str, options: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    out = rows.copy()
    out["kind"] = kind
    for i, col in enumerate(("option_1", "source_1", "option_2", "source_2")):
        out[col] = [opt[i] for opt in options]
    return out


def sample_items(rows: pd.DataFrame, params: StudyParams) -> tuple[pd.DataFrame, dict]:
    """Preference items stratified by MELD label, then attention checks; and what was available per label."""
    disagree = rows[rows["meld_label"] != rows["melt_label"]]
    agree = rows[rows["meld_label"] == rows["melt_label"]]
    report: dict = {"preference": {}, "attention": {}}
    parts = []
    for label in params.labels:
        cands = disagree[disagree["meld_label"] == label]
        playable = cands[cands["media"] != ""]
        picked = _draw(playable, params.per_label, params.seed, f"preference/{label}")
        report["preference"][label] = {"disagreements": len(cands), "without_media": len(cands) - len(playable),
                                       "sampled": len(picked), "shortfall": params.per_label - len(picked)}
        opts = [(m, "melt", d, "meld") for m, d in zip(picked["melt_label"], picked["meld_label"])]
        parts.append(_item_frame(picked, "preference", opts))

    # Attention checks: round-robin over the agreed labels, each label's candidates in its own seeded order.
    pools = {}
    for label in params.attention_labels:
        cands = agree[(agree["meld_label"] == label) & (agree["media"] != "")]
        order = np.random.default_rng([params.seed, zlib.crc32(f"attention/{label}".encode())]).permutation(len(cands))
        pools[label] = [cands.iloc[i] for i in order]
        report["attention"][label] = {"agreements": len(cands), "sampled": 0}
    chosen = []
    while len(chosen) < params.attention_items and any(pools.values()):
        for label, pool in pools.items():
            if pool and len(chosen) < params.attention_items:
                chosen.append(pool.pop(0))
                report["attention"][label]["sampled"] += 1
    report["attention_shortfall"] = params.attention_items - len(chosen)
    if chosen:
        att = pd.DataFrame(chosen).sort_values(KEY_ORDER, kind="stable")
        opts = [(lab, "correct", params.attention_labels[lab], "wrong") for lab in att["meld_label"]]
        parts.append(_item_frame(att, "attention", opts))
    items = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(ITEM_COLUMNS))
    return items, report


def review_queue(rows: pd.DataFrame) -> pd.DataFrame:
    """Every disagreement, least certain LLM label first: vote share, then the margin between the top two labels."""
    queue = rows[rows["meld_label"] != rows["melt_label"]].copy()
    queue["llm_confidence_f"] = pd.to_numeric(queue["llm_confidence"], errors="coerce").fillna(1.0)
    queue["vote_margin"] = [round(_vote_margin(v), 6) for v in queue["llm_votes"]]
    queue = queue.sort_values(["llm_confidence_f", "vote_margin", "_split_order", "dialogue_id", "utterance_id"],
                              kind="stable").reset_index(drop=True)
    queue["queue_rank"] = range(1, len(queue) + 1)
    queue["llm_label"] = queue["melt_label"]
    return queue


def build_study_set(params: StudyParams, melt_dir: Path, out_dir: Path, audio_dir: Path | None,
                    prepared_dir: Path) -> dict:
    """data/melt (+ data/prepared for the conversations) → `items.csv`, `review_queue.csv`, `context.csv`,
    `sampling.json` and, for a panel-labelled MELT, `panel.json` in `out_dir`; returns the sampling summary."""
    rows = load_melt_rows(Path(melt_dir), params.splits, audio_dir, params.media)
    panel = read_panel(Path(melt_dir))
    missing = [c for c in panel_columns(panel) if c not in rows.columns]
    if missing:
        raise ValueError(f"{Path(melt_dir)}: panel.json names annotators without their column(s) {missing}")
    items, report = sample_items(rows, params)
    queue = review_queue(rows)
    context = context_table(queue, load_turns(prepared_dir, params.splits, audio_dir, params.media),
                            params.context_turns)
    out_dir = Path(out_dir)
    write_csv(items[list(ITEM_COLUMNS)], out_dir / "items.csv")
    write_csv(queue[[*QUEUE_COLUMNS, *panel_columns(panel)]], out_dir / "review_queue.csv")
    write_csv(context, out_dir / "context.csv")
    if panel is not None:
        write_json(out_dir / PANEL_FILE, panel)
    else:
        (out_dir / PANEL_FILE).unlink(missing_ok=True)
    kinds = items["kind"].value_counts()
    report["totals"] = {"preference_items": int(kinds.get("preference", 0)),
                        "attention_items": int(kinds.get("attention", 0)),
                        "review_queue": len(queue), "review_without_media": int((queue["media"] == "").sum()),
                        "context_turns": len(context),
                        "context_turns_without_media": int((context["media"] == "").sum())}
    report.update(splits=list(params.splits), media=params.media)
    write_json(out_dir / "sampling.json", report)
    return report
