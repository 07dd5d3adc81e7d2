"""The `analyze` stage: label statistics of the MELT CSVs (paper Table 2), agreement with MELD,
among each annotator's samples (Krippendorff's α), across the panel (melt.analysis.panel_report) and with a
second annotation run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from melt.analysis.agreement import label_counts, pair_agreement, samples_alpha
from melt.analysis.annotations import read_annotations
from melt.analysis.compare import load_run
from melt.analysis.layout import read_melt_csv
from melt.analysis.params import AnalyzeParams
from melt.data.labels import EMOTIONS, normalize_emotion
from melt.data.meld import SPLITS
from melt.analysis.panel_report import panel_markdown, panel_report, read_panel
from melt.io import write_csv, write_json, write_text


def _annotation_stats(annotations_dir: Path, names: list[str], split: str) -> dict:
    """Per annotator: α among its samples, its answers' statuses and the out-of-set labels it used (reported,
    never coerced); the statuses and out-of-set labels of the whole panel beside them."""
    per, status_all, oos_all = {}, Counter(), Counter()
    for name in names:
        answers = read_annotations(annotations_dir / name / f"{split}.jsonl", split)
        units = [[a.label if a.status == "ok" else None for a in ans] for ans in answers.values()]
        out_of_set = Counter(a.raw_label for ans in answers.values() for a in ans
                             if a.status == "invalid" and a.raw_label and a.raw_label not in EMOTIONS)
        status = Counter(a.status for ans in answers.values() for a in ans)
        status_all += status
        oos_all += out_of_set
        per[name] = {"samples_agreement": samples_alpha(units), "answer_status": dict(sorted(status.items())),
                     "out_of_set_labels": dict(out_of_set.most_common())}
    return {"answer_status": dict(sorted(status_all.items())), "out_of_set_labels": dict(oos_all.most_common()),
            "annotators": per}


def analyze_split(melt: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    meld_labels = melt["Emotion"].map(normalize_emotion)
    both = melt[meld_labels.notna()].assign(meld=meld_labels[meld_labels.notna()])
    stats = pair_agreement(both["meld"].tolist(), both["llm_label"].tolist())
    result = {"rows": len(melt), "rows_meld_out_of_set": int(meld_labels.isna().sum()),
              "label_counts": label_counts(both["meld"].tolist(), both["llm_label"].tolist()), **stats}
    plot = pd.DataFrame({"meld": both["meld"], "melt": both["llm_label"]})
    return result, plot


def _compare(melt: pd.DataFrame, other: dict) -> dict:
    """Agreement of this run (rows) with the other run (columns), on utterances both labelled validly."""
    mine, theirs, missing, invalid = [], [], 0, 0
    for d, u, lab in zip(melt["Dialogue_ID"], melt["Utterance_ID"], melt["llm_label"]):
        key = (int(d), int(u))
        if key not in other:
            missing += 1
        elif other[key] is None:
            invalid += 1
        else:
            mine.append(lab)
            theirs.append(other[key])
    return {"missing_in_other": missing, "invalid_in_other": invalid, **pair_agreement(mine, theirs)}


def headline(report: dict) -> dict:
    """The declared metrics: per split, the change rate and Cohen's κ vs MELD, and Krippendorff's α across the
    panel (null for one annotator); details stay in the report."""
    out = {split: {"change_rate": r["change_rate"], "kappa": r["kappa"]} for split, r in report["splits"].items()}
    return {**out, "panel_alpha": report["panel"]["alpha"]["alpha"]}


def run(params: AnalyzeParams, melt_dir: str | Path, annotations_dir: str | Path,
        metrics_path: str | Path, report_path: str | Path, plots_dir: str | Path,
        panel_md_path: str | Path | None = None) -> dict:
    melt_dir, annotations_dir, plots_dir = Path(melt_dir), Path(annotations_dir), Path(plots_dir)
    names = list(read_panel(melt_dir)["annotators"])
    excluded = read_melt_csv(melt_dir / "excluded.csv", ("reason", "split"))
    other = load_run(params.compare_with, SPLITS) if params.compare_with else None
    report = {"labels": list(EMOTIONS), "compare_with": str(params.compare_with) if other else None, "splits": {}}
    for split in SPLITS:
        melt = read_melt_csv(melt_dir / f"{split}.csv")
        result, plot = analyze_split(melt)
        ex = excluded[excluded["split"] == split]
        result["excluded"] = len(ex)
        result["excluded_by_reason"] = dict(sorted(Counter(ex["reason"]).items()))
        result.update(_annotation_stats(annotations_dir, names, split))
        if other is not None:
            result["compare"] = _compare(melt, other[split])
        report["splits"][split] = result
        write_csv(plot, plots_dir / f"{split}.csv")
    report["panel"] = panel_report(melt_dir)
    if panel_md_path is not None:
        write_text(panel_md_path, panel_markdown(report["panel"]))
    write_json(report_path, report)
    write_json(metrics_path, headline(report))
    return report
