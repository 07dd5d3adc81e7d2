"""The `derive` stage: prepared rows + annotation records → MELT CSVs (released layout + extras).

Every prepared row ends in exactly one place: ``{split}.csv`` with a label, or ``excluded.csv`` with a reason.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from melt.analysis.annotations import Answer, read_annotations
from melt.analysis.character import character_check
from melt.analysis.layout import EXCLUDED_COLUMNS, MELT_COLUMNS, read_melt_csv
from melt.analysis.params import DeriveParams
from melt.analysis.vote import majority_vote, votes_json
from melt.data.meld import PREPARED_COLUMNS, SPLITS
from melt.io import write_csv, write_json

# prepared column → MELT column, for the pass-through columns
_RENAMES = {"Sr No.": "Sr_No."}
_DESCRIPTIONS = ("loudness", "pitch", "rhythm_speed", "emotional_impact")
EXCLUSION_REASONS = ("not_annotated", "no_valid_answer", "tie", "low_confidence")


def _answers_summary(answers: list[Answer]) -> str:
    """What each sample said, e.g. `0:invalid frustration (out-of-set label 'frustration'); 1:ok joy`."""
    parts = []
    for a in answers:
        said = a.label or a.raw_label or ""
        why = f" ({a.error})" if a.error else ""
        parts.append(f"{a.sample}:{a.status} {said}{why}".rstrip())
    return "; ".join(parts)


def _base_row(prep: dict) -> dict:
    row = {_RENAMES.get(k, k): v for k, v in prep.items()}
    row["Emotion"] = row["Emotion"].strip().lower()
    row["Speaker"] = row["Speaker"].strip().lower()
    return row


def derive_split(prepared: pd.DataFrame, answers: dict, params: DeriveParams) -> tuple[list[dict], list[dict], Counter]:
    kept, excluded, stats = [], [], Counter()
    for prep in prepared.to_dict("records"):
        row = _base_row(prep)
        key = (prep["split"], int(prep["dialogue_id"]), int(prep["utterance_id"]))
        samples = answers.get(key, [])
        reason = detail = ""
        vote = majority_vote(samples, params.tie_break) if samples else None
        if not samples:
            reason, detail = "not_annotated", "no annotation record for this utterance"
        elif vote.label is None and not vote.votes:
            reason, detail = "no_valid_answer", f"none of {len(samples)} sample(s) gave a valid label"
        elif vote.label is None:
            reason, detail = "tie", f"tied votes {votes_json(vote.votes)} (derive.tie_break: exclude)"
        elif vote.confidence < params.min_confidence:
            reason, detail = "low_confidence", f"vote share {vote.confidence:.3f} < derive.min_confidence {params.min_confidence}"
        if vote is not None:
            stats["tied"] += vote.tied
            row["llm_votes"] = votes_json(vote.votes)
            row["llm_confidence"] = round(vote.confidence, 6)
        if vote is not None and vote.source is not None:
            src = vote.source
            parsed = src.parsed or {}
            row["llm_label"] = vote.label
            row["context"] = parsed.get("context") or ""
            for name in _DESCRIPTIONS:
                row[name] = src.elements.get(name) or ""
            row["character_check"] = character_check(parsed.get("character"), row["Speaker"])
            row["annotation_key"] = src.key
        if reason:
            row.update(reason=reason, detail=detail, llm_answers=_answers_summary(samples))
            excluded.append(row)
            stats[f"excluded_{reason}"] += 1
        else:
            kept.append(row)
            stats[f"character_{row['character_check']}"] += 1
    return kept, excluded, stats


def _frame(rows: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns), dtype=object).fillna("")


def headline(report: dict) -> dict:
    """The declared metrics: labelled and excluded rows over all splits (details stay in the report)."""
    return {k: sum(m[k] for m in report["splits"].values()) for k in ("labelled", "excluded")}


def run(params: DeriveParams, prepared_dir: str | Path, annotations_dir: str | Path,
        out_dir: str | Path, metrics_path: str | Path, report_path: str | Path) -> dict:
    prepared_dir, annotations_dir, out_dir = Path(prepared_dir), Path(annotations_dir), Path(out_dir)
    all_excluded, report = [], {"tie_break": params.tie_break, "min_confidence": params.min_confidence, "splits": {}}
    for split in SPLITS:
        prepared = read_melt_csv(prepared_dir / f"{split}.csv", PREPARED_COLUMNS)  # names a missing column
        answers = read_annotations(annotations_dir / f"{split}.jsonl", split)
        prepared_keys = {(split, int(d), int(u)) for d, u in zip(prepared["dialogue_id"], prepared["utterance_id"])}
        orphans = sorted(k for k in answers if k not in prepared_keys)
        kept, excluded, stats = derive_split(prepared, answers, params)
        write_csv(_frame(kept, MELT_COLUMNS), out_dir / f"{split}.csv")
        all_excluded += excluded
        n_samples = Counter(len(v) for v in answers.values())
        report["splits"][split] = {
            "prepared": len(prepared), "labelled": len(kept), "excluded": len(excluded),
            "excluded_by_reason": {r: stats[f"excluded_{r}"] for r in EXCLUSION_REASONS},
            "tied_votes": stats["tied"],
            "samples_per_utterance": {str(k): v for k, v in sorted(n_samples.items())},
            "mean_confidence": round(sum(r["llm_confidence"] for r in kept) / len(kept), 4) if kept else None,
            "character_check": {c: stats[f"character_{c}"] for c in ("match", "mismatch", "missing")},
            # records whose utterance is not among the prepared rows (reported, not silently dropped)
            "orphan_annotations": len(orphans),
            "orphan_examples": [f"dia{d}_utt{u}" for _, d, u in orphans[:10]],
        }
    write_csv(_frame(all_excluded, EXCLUDED_COLUMNS), out_dir / "excluded.csv")
    write_json(report_path, report)
    write_json(metrics_path, headline(report))
    return report
