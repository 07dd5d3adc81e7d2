"""The `derive` stage: prepared rows + the panel's annotation records → MELT CSVs (released layout + extras).

Each annotator's label of an utterance is its majority vote over its samples; with one annotator that is the
label (as before panels existed), with several the panel's aggregate (melt.analysis.aggregate: Dawid–Skene or
majority) is. Every prepared row ends in exactly one place: ``{split}.csv`` with a label, or ``excluded.csv``
with a reason. ``panel.json`` says which annotators and which aggregation the labels come from.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd

from melt.analysis.aggregate import Aggregate, aggregate
from melt.analysis.annotations import AnnotationError, Answer, read_annotations
from melt.analysis.character import character_check
from melt.analysis.layout import (EXCLUDED_COLUMNS, MELT_COLUMNS, PANEL_AGREEMENT, confidence_column, label_column,
                                  panel_columns, read_melt_csv)
from melt.analysis.params import DeriveParams
from melt.analysis.vote import Vote, majority_vote, votes_json
from melt.data.labels import EMOTIONS
from melt.data.meld import PREPARED_COLUMNS, SPLITS
from melt.io import write_csv, write_json

# prepared column → MELT column, for the pass-through columns
_RENAMES = {"Sr No.": "Sr_No."}
_DESCRIPTIONS = ("loudness", "pitch", "rhythm_speed", "emotional_impact")
EXCLUSION_REASONS = ("not_annotated", "no_valid_answer", "tie", "low_confidence")
PANEL_FILE = "panel.json"


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


def _describe(row: dict, src: Answer | None) -> None:
    """The descriptive columns from the answer the label came from (empty without one)."""
    parsed = (src.parsed if src else None) or {}
    row["context"] = parsed.get("context") or ""
    for name in _DESCRIPTIONS:
        row[name] = (src.elements.get(name) if src else "") or ""
    row["character_check"] = character_check(parsed.get("character"), row["Speaker"])
    row["annotation_key"] = src.key if src else ""


def _single(row: dict, samples: list[Answer], params: DeriveParams) -> str:
    """One annotator: its majority vote over its samples (the label of a one-annotator panel). Returns the
    exclusion reason, or ''."""
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
        row["llm_votes"] = votes_json(vote.votes)
        row["llm_confidence"] = round(vote.confidence, 6)
    if vote is not None and vote.source is not None:
        row["llm_label"] = vote.label
        _describe(row, vote.source)
    if reason:
        row.update(reason=reason, detail=detail, llm_answers=_answers_summary(samples))
    return reason


def _panel(row: dict, key, samples: dict[str, list[Answer]], votes: dict[str, Vote | None], agg: Aggregate,
           params: DeriveParams) -> str:
    """Several annotators: the aggregate's label and posterior; descriptions from the first annotator (panel
    order) whose label it is. Returns the exclusion reason, or ''."""
    given = {name: v.label for name, v in votes.items() if v is not None and v.label is not None}
    reason = detail = ""
    decision = agg.decisions.get(key)
    if not any(samples.values()):
        reason, detail = "not_annotated", "no annotation record for this utterance"
    elif decision is None:
        reason, detail = "no_valid_answer", f"none of {len(samples)} annotator(s) gave a valid label"
    elif decision.label is None:
        reason, detail = "tie", (f"tied {agg.method} posteriors {votes_json(decision.posterior)} "
                                 f"(derive.tie_break: exclude)")
    elif decision.confidence < params.min_confidence:
        reason, detail = "low_confidence", (f"{agg.method} posterior {decision.confidence:.3f} < "
                                            f"derive.min_confidence {params.min_confidence}")
    if decision is not None:
        counts = Counter(given.values())
        row["llm_votes"] = votes_json({lab: counts[lab] for lab in sorted(counts, key=lambda x: (-counts[x],
                                       list(given.values()).index(x)))})
        row["llm_confidence"] = decision.confidence
    if decision is not None and decision.label is not None:
        row["llm_label"] = decision.label
        source = next((v.source for name, v in votes.items() if name in given and given[name] == decision.label), None)
        _describe(row, source)
    if reason:
        row.update(reason=reason, detail=detail, llm_answers="; ".join(
            f"{name}: {_answers_summary(s) or 'no record'}" for name, s in samples.items()))
    return reason


def _panel_columns(row: dict, votes: dict[str, Vote | None], samples_per: dict[str, int]) -> None:
    given = {name: v.label for name, v in votes.items() if v is not None and v.label is not None}
    label = row.get("llm_label")
    row[PANEL_AGREEMENT] = (round(sum(lab == label for lab in given.values()) / len(given), 6)
                            if label and given else "")
    for name, v in votes.items():
        row[label_column(name)] = given.get(name, "")
        if samples_per[name] > 1:
            row[confidence_column(name)] = round(v.confidence, 6) if v is not None and v.label is not None else ""


def derive_split(prepared: pd.DataFrame, answers: dict[str, dict], params: DeriveParams, agg: Aggregate | None,
                 samples_per: dict[str, int]) -> tuple[list[dict], list[dict], Counter]:
    """`answers`: annotator → its answers per utterance; `agg`: the panel's decisions (None for one annotator)."""
    kept, excluded, stats = [], [], Counter()
    for prep in prepared.to_dict("records"):
        row = _base_row(prep)
        key = (prep["split"], int(prep["dialogue_id"]), int(prep["utterance_id"]))
        samples = {name: per.get(key, []) for name, per in answers.items()}
        votes = {name: majority_vote(s, params.tie_break) if s else None for name, s in samples.items()}
        stats["tied"] += sum(v.tied for v in votes.values() if v is not None)
        if agg is None:
            reason = _single(row, next(iter(samples.values())), params)
        else:
            reason = _panel(row, key, samples, votes, agg, params)
            stats["panel_tied"] += bool(agg.decisions.get(key) and agg.decisions[key].tied)
        _panel_columns(row, votes, samples_per)
        for name, v in votes.items():
            stats[f"labelled_by_{name}"] += v is not None and v.label is not None
        if reason:
            excluded.append(row)
            stats[f"excluded_{reason}"] += 1
        else:
            kept.append(row)
            stats[f"character_{row['character_check']}"] += 1
    return kept, excluded, stats


def _frame(rows: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns), dtype=object).fillna("")


def headline(report: dict) -> dict:
    """The declared metric: labelled rows over all splits. Excluded rows are the prepared rows (metrics/prepare.json)
    less these, so they stay in the report: the demo's headline scalars are capped (docs/registry.md)."""
    return {"labelled": sum(m["labelled"] for m in report["splits"].values())}


def read_panel(annotations_dir: Path) -> dict:
    """The panel the annotations come from (annotate's panel.json): annotator → backend, model, input, prompt..."""
    path = Path(annotations_dir) / PANEL_FILE
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found (the annotate stage writes it beside one folder per "
                              f"annotator; run it first)")
    panel = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(panel, dict) or not panel.get("annotators"):
        raise AnnotationError(f"{path}: expected {{'annotators': {{name: settings}}}} with at least one annotator")
    return panel


def _panel_labels(prepared: dict[str, pd.DataFrame], answers: dict, params: DeriveParams) -> dict:
    """task → {annotator: its voted label}, for every prepared utterance some annotator labelled, in file order."""
    labels = {}
    for split, df in prepared.items():
        for d, u in zip(df["dialogue_id"], df["utterance_id"]):
            key = (split, int(d), int(u))
            given = {}
            for name, per in answers[split].items():
                if key in per:
                    vote = majority_vote(per[key], params.tie_break)
                    if vote.label is not None:
                        given[name] = vote.label
            if given:
                labels[key] = given
    return labels


def _panel_report(agg: Aggregate | None, panel: dict, stats: Counter, confusion_dir: Path | None) -> dict:
    names = list(panel["annotators"])
    out = {"aggregate": agg.method if agg else "single annotator (its own vote over samples)",
           "annotators": {}, "prior": agg.prior if agg else None, "tied_decisions": stats["panel_tied"]}
    for name in names:
        entry = {**{k: panel["annotators"][name].get(k) for k in ("backend", "model", "input", "prompt")},
                 "labelled": stats[f"labelled_by_{name}"]}
        if agg is not None and name in agg.confusion:
            matrix = agg.confusion[name]
            entry["confusion"] = {"rows": "true label (panel)", "columns": f"label given by {name}",
                                  "labels": list(EMOTIONS), "matrix": matrix.to_numpy().tolist()}
            if confusion_dir is not None:
                write_csv(matrix.rename_axis("true_label").reset_index(), Path(confusion_dir) / f"{name}.csv")
        out["annotators"][name] = entry
    return out


def run(params: DeriveParams, prepared_dir: str | Path, annotations_dir: str | Path,
        out_dir: str | Path, metrics_path: str | Path, report_path: str | Path, aggregate_method: str = "dawid_skene",
        confusion_dir: str | Path | None = None) -> dict:
    prepared_dir, annotations_dir, out_dir = Path(prepared_dir), Path(annotations_dir), Path(out_dir)
    panel = read_panel(annotations_dir)
    names = list(panel["annotators"])
    samples_per = {n: int(panel["annotators"][n].get("samples", 1)) for n in names}
    prepared = {s: read_melt_csv(prepared_dir / f"{s}.csv", PREPARED_COLUMNS) for s in SPLITS}   # names a missing column
    answers = {s: {n: read_annotations(annotations_dir / n / f"{s}.jsonl", s) for n in names} for s in SPLITS}
    agg = aggregate(aggregate_method, _panel_labels(prepared, answers, params), names, params.tie_break) \
        if len(names) > 1 else None
    if confusion_dir is not None:
        shutil.rmtree(confusion_dir, ignore_errors=True)
        Path(confusion_dir).mkdir(parents=True)
    columns = panel_columns(samples_per)
    all_excluded, totals = [], Counter()
    report = {"tie_break": params.tie_break, "min_confidence": params.min_confidence, "splits": {}}
    for split in SPLITS:
        keys = {(split, int(d), int(u)) for d, u in zip(prepared[split]["dialogue_id"], prepared[split]["utterance_id"])}
        orphans = sorted({k for per in answers[split].values() for k in per if k not in keys})
        kept, excluded, stats = derive_split(prepared[split], answers[split], params, agg, samples_per)
        totals += stats
        write_csv(_frame(kept, (*MELT_COLUMNS, *columns)), out_dir / f"{split}.csv")
        all_excluded += excluded
        n_samples = Counter(len(v) for per in answers[split].values() for v in per.values())
        report["splits"][split] = {
            "prepared": len(prepared[split]), "labelled": len(kept), "excluded": len(excluded),
            "excluded_by_reason": {r: stats[f"excluded_{r}"] for r in EXCLUSION_REASONS},
            "tied_votes": stats["tied"],
            "samples_per_utterance": {str(k): v for k, v in sorted(n_samples.items())},
            "mean_confidence": round(sum(r["llm_confidence"] for r in kept) / len(kept), 4) if kept else None,
            "character_check": {c: stats[f"character_{c}"] for c in ("match", "mismatch", "missing")},
            # records whose utterance is not among the prepared rows (reported, not silently dropped)
            "orphan_annotations": len(orphans),
            "orphan_examples": [f"dia{d}_utt{u}" for _, d, u in orphans[:10]],
        }
    report["panel"] = _panel_report(agg, panel, totals, confusion_dir)
    write_csv(_frame(all_excluded, (*EXCLUDED_COLUMNS, *columns)), out_dir / "excluded.csv")
    write_json(out_dir / PANEL_FILE, {"aggregate": aggregate_method, "annotators": panel["annotators"]})
    write_json(report_path, report)
    write_json(metrics_path, headline(report))
    return report
