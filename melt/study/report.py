"""The preference test's results (paper Figure 3): share of answers preferring the MELT label, per MELD emotion.

Participants who fail more attention checks than `study.max_attention_failures` are excluded (all their
answers) and counted. The 95 % interval is Wilson's score interval on the counted answers, which treats
answers as independent (repeated answers by one participant are not modelled). Everything here is a function
of the database's content: no clock, no paths.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

from melt.io import write_csv, write_json
from melt.study.plot import preference_chart
from melt.study.store import StudyStore

DEMOGRAPHICS = ("gender", "age_range", "native_english", "headphones")
PREFERENCE_COLUMNS = ["emotion", "prefer_melt", "ci_low", "ci_high", "answers", "melt_preferred"]


def share(k: int, n: int) -> dict:
    """k of n with Wilson's 95 % interval (None when n is 0), rounded to 4 decimals."""
    if n == 0:
        return {"prefer_melt": None, "ci_low": None, "ci_high": None, "answers": 0}
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"prefer_melt": round(k / n, 4), "ci_low": round(float(ci.low), 4), "ci_high": round(float(ci.high), 4),
            "answers": n}


def _participant_table(answers: pd.DataFrame, participants: list[dict], max_failures: int) -> pd.DataFrame:
    table = pd.DataFrame(participants, columns=["participant_id", "created_at", "completed_at", *DEMOGRAPHICS,
                                                "questions", "answers"])
    att = answers[answers["kind"] == "attention"]
    checked = att.groupby("participant_id").size()
    failed = att[att["chosen_source"] == "wrong"].groupby("participant_id").size()
    pref = answers[answers["kind"] == "preference"]
    table["preference_answers"] = table["participant_id"].map(pref.groupby("participant_id").size()).fillna(0)
    table["attention_answered"] = table["participant_id"].map(checked).fillna(0)
    table["attention_failed"] = table["participant_id"].map(failed).fillna(0)
    table["excluded"] = table["attention_failed"] > max_failures
    for col in ("preference_answers", "attention_answered", "attention_failed", "questions", "answers"):
        table[col] = table[col].astype(int)
    return table


def study_report(store: StudyStore, labels: tuple[str, ...], max_attention_failures: int) -> dict:
    """Headline metrics, the bar-chart table and the detailed tables, from the store's answers."""
    columns = ["participant_id", "position", "item_id", "kind", "split", "dialogue_id", "utterance_id", "meld_label",
               "melt_label", "text", "option_a", "source_a", "option_b", "source_b", "choice", "chosen_source",
               "answered_at", "media_played_s"]
    answers = pd.DataFrame(store.answers(), columns=columns)
    people = _participant_table(answers, store.participants(), max_attention_failures)
    excluded = set(people.loc[people["excluded"], "participant_id"])
    counted = answers[(answers["kind"] == "preference") & ~answers["participant_id"].isin(excluded)]
    counted = counted.assign(melt=counted["chosen_source"] == "melt")

    overall = share(int(counted["melt"].sum()), len(counted))
    overall.update(participants=int(counted["participant_id"].nunique()), attention_failures=len(excluded))
    rows = []
    for label in labels:
        sub = counted[counted["meld_label"] == label]
        rows.append({"emotion": label, **share(int(sub["melt"].sum()), len(sub)),
                     "melt_preferred": int(sub["melt"].sum())})
    by_emotion = {r["emotion"]: {k: r[k] for k in ("prefer_melt", "ci_low", "ci_high", "answers")}
                  for r in rows if r["answers"]}
    # Answers about emotions outside `labels` (the study set was sampled with other params) are still counted
    # overall; they are listed, not silently dropped.
    other = sorted(set(counted["meld_label"]) - set(labels))

    per_answer = answers[answers["kind"] == "preference"].copy()
    per_answer["counted"] = ~per_answer["participant_id"].isin(excluded)
    per_answer["melt_preferred"] = per_answer["counted"] & (per_answer["chosen_source"] == "melt")
    per_answer["excluded_answers"] = ~per_answer["counted"]
    items = (per_answer.groupby(["item_id", "split", "dialogue_id", "utterance_id", "meld_label", "melt_label"],
                                as_index=False)[["counted", "melt_preferred", "excluded_answers"]].sum()
             .rename(columns={"counted": "answers"})
             .sort_values(["meld_label", "split", "dialogue_id", "utterance_id"], kind="stable"))
    kept = people[~people["excluded"]]
    demographics = {c: dict(sorted(Counter(kept[c].fillna("not given")).items())) for c in DEMOGRAPHICS}
    summary = {
        "overall": overall,
        "by_emotion": {r["emotion"]: {k: v for k, v in r.items() if k != "emotion"} for r in rows},
        "emotions_outside_labels": other,
        "participants": {"started": len(people), "completed": int(people["completed_at"].notna().sum()),
                         "excluded_attention": len(excluded), "counted": overall["participants"]},
        "attention_checks": {"answered": int((answers["kind"] == "attention").sum()),
                             "failed": int(people["attention_failed"].sum()),
                             "max_failures_allowed": max_attention_failures},
        "excluded_participants": [{"participant_id": p, "reason": "attention checks failed",
                                   "attention_failed": int(f)} for p, f in
                                  people.loc[people["excluded"], ["participant_id", "attention_failed"]].values],
        "demographics_of_counted_participants": demographics,
        "interval": "Wilson score, 95 %, answers treated as independent",
    }
    return {"metrics": {"overall": overall, "by_emotion": by_emotion}, "summary": summary,
            "preference": pd.DataFrame(rows, columns=PREFERENCE_COLUMNS), "participants": people, "items": items}


def run(store: StudyStore, labels: tuple[str, ...], max_attention_failures: int, metrics_path: Path,
        reports_dir: Path) -> dict:
    """Write `metrics_path` (headlines) and `reports_dir/{summary.json, preference.csv, preference.png,
    participants.csv, items.csv}`; returns the headline metrics."""
    result = study_report(store, labels, max_attention_failures)
    reports_dir = Path(reports_dir)
    write_json(metrics_path, result["metrics"])
    write_json(reports_dir / "summary.json", result["summary"])
    pref = result["preference"]
    write_csv(pref[pref["answers"] > 0], reports_dir / "preference.csv")
    write_csv(result["participants"], reports_dir / "participants.csv")
    write_csv(result["items"], reports_dir / "items.csv")
    preference_chart(pref, reports_dir / "preference.png")
    return result["metrics"]
