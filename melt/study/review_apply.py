"""Review decisions → `data/melt_reviewed/{split}.csv`: the MELT CSVs with a final label per row.

`final_label` is the reviewer's decision when there is one (the latest per utterance), else the LLM's label.
`label_source` says where the final label comes from: `llm`, `meld` or `reviewer` (a label neither source
gave); `reviewer` and `reviewed_at` are empty for rows nobody reviewed. A decision is applied only if the
row still has the labels the reviewer saw; a stale decision (the labels changed since) or one whose utterance
is no longer in `data/melt` is listed in the report with its reason, never applied silently. Decisions are
matched to rows by the utterance key they snapshot (split, dialogue, utterance), never by the public item id,
so neither the database's secret nor an id reaches the outputs.
"""

from __future__ import annotations

from pathlib import Path

from melt.analysis.layout import MELT_COLUMNS, read_melt_csv
from melt.data.meld import SPLITS
from melt.io import write_csv, write_json
from melt.study.store import StudyStore

REVIEW_COLUMNS: tuple[str, ...] = ("final_label", "label_source", "reviewer", "reviewed_at")
REVIEWED_COLUMNS: tuple[str, ...] = (*MELT_COLUMNS, *REVIEW_COLUMNS)


def _norm(label: str) -> str:
    return label.strip().lower()


def apply_reviews(store: StudyStore, melt_dir: Path, out_dir: Path, report_path: Path) -> dict:
    """Write the reviewed CSVs and a report; returns the report."""
    decisions = {(d["split"], int(d["dialogue_id"]), int(d["utterance_id"])): d
                 for d in store.latest_decisions().values()}
    used: set[tuple] = set()
    report: dict = {"splits": {}, "stale_decisions": [], "decisions_without_row": []}
    for split in SPLITS:
        df = read_melt_csv(Path(melt_dir) / f"{split}.csv")
        final, source, reviewer, when = [], [], [], []
        for row in df.to_dict("records"):
            key = (row["split"], int(row["dialogue_id"]), int(row["utterance_id"]))
            d = decisions.get(key)
            if d is not None:
                used.add(key)
                seen = (d["llm_label"], d["meld_label"])
                now = (_norm(row["llm_label"]), _norm(row["Emotion"]))
                if seen != now:
                    report["stale_decisions"].append({
                        "split": split, "dialogue_id": d["dialogue_id"], "utterance_id": d["utterance_id"],
                        "decision_id": d["decision_id"], "reason": f"labels changed since review: LLM/MELD were "
                        f"{seen[0]}/{seen[1]}, now {now[0]}/{now[1]}"})
                    d = None
            if d is None:
                final.append(row["llm_label"])
                source.append("llm")
                reviewer.append("")
                when.append("")
            else:
                final.append(d["final_label"])
                source.append(d["label_source"])
                reviewer.append(d["reviewer"])
                when.append(d["reviewed_at"])
        out = df.assign(final_label=final, label_source=source, reviewer=reviewer, reviewed_at=when)
        write_csv(out[[*df.columns, *REVIEW_COLUMNS]], Path(out_dir) / f"{split}.csv")
        reviewed = out[out["reviewer"] != ""]
        report["splits"][split] = {
            "rows": len(out), "reviewed": len(reviewed),
            "changed_from_llm": int((out["final_label"] != out["llm_label"]).sum()),
            "label_source": {s: int((out["label_source"] == s).sum()) for s in ("llm", "meld", "reviewer")},
        }
    for key, d in sorted(decisions.items(), key=lambda kv: kv[1]["decision_id"]):
        if key not in used:
            report["decisions_without_row"].append({
                "split": d["split"], "dialogue_id": d["dialogue_id"], "utterance_id": d["utterance_id"],
                "decision_id": d["decision_id"], "reason": "utterance not in data/melt (excluded or re-derived)"})
    write_json(report_path, report)
    return report
