"""The preference test's results (paper Figure 3): share of answers preferring the MELT label, per MELD emotion.

Participants who fail more attention checks than `study.max_attention_failures` are excluded (all their
answers) and counted; answers flagged for too little play time (`study.play_check: flag`) are left out and
counted, as are answers the app refused for it. Answers cluster by participant (one person answers many
items), so the headline 95 % interval is a participant-level cluster bootstrap (percentile, seeded); Wilson's
score interval, which treats answers as independent, is reported beside it. Everything here is a function of
the database's content and the params: no clock, no paths, no public item ids (rows are named by their key).
"""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from melt.io import write_csv, write_json
from melt.study.plot import preference_chart
from melt.study.store import StudyStore

DEMOGRAPHICS = ("gender", "age_range", "native_english", "headphones")
PREFERENCE_COLUMNS = ["emotion", "prefer_melt", "ci_low", "ci_high", "wilson_low", "wilson_high", "answers",
                      "melt_preferred", "participants"]
KEY = ["split", "dialogue_id", "utterance_id"]


def share(k: int, n: int) -> dict:
    """k of n with Wilson's 95 % interval (None when n is 0), rounded to 4 decimals."""
    if n == 0:
        return {"prefer_melt": None, "ci_low": None, "ci_high": None, "answers": 0}
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"prefer_melt": round(k / n, 4), "ci_low": round(float(ci.low), 4), "ci_high": round(float(ci.high), 4),
            "answers": n}


def cluster_bootstrap(k: np.ndarray, n: np.ndarray, resamples: int, seed: int, stream: str) -> tuple:
    """95 % percentile interval of sum(k) / sum(n) when whole participants (clusters: k of their n answers
    prefer MELT) are resampled with replacement; None for fewer than 2 participants (no spread to resample).
    Each `stream` (overall, an emotion) draws from its own generator seeded by `seed` and its name."""
    k, n = np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64)
    if len(n) < 2:
        return None, None
    rng = np.random.default_rng([seed, zlib.crc32(stream.encode())])
    picks = rng.integers(0, len(n), size=(resamples, len(n)))
    shares = k[picks].sum(axis=1) / n[picks].sum(axis=1)
    low, high = np.quantile(shares, [0.025, 0.975])
    return round(float(low), 4), round(float(high), 4)


def headline_share(counted: pd.DataFrame, resamples: int, seed: int, stream: str) -> dict:
    """Share preferring MELT among `counted` answers with the cluster-bootstrap interval (the headline), Wilson's
    beside it, and the numbers of answers and participants."""
    per = counted.groupby("participant_id")["melt"].agg(["sum", "size"])
    k, n = int(per["sum"].sum()), int(per["size"].sum())
    wilson = share(k, n)
    low, high = cluster_bootstrap(per["sum"].to_numpy(), per["size"].to_numpy(), resamples, seed, stream)
    return {"prefer_melt": wilson["prefer_melt"], "ci_low": low, "ci_high": high, "wilson_low": wilson["ci_low"],
            "wilson_high": wilson["ci_high"], "answers": n, "melt_preferred": k, "participants": len(per)}


def _participant_table(answers: pd.DataFrame, participants: list[dict], refusals: pd.DataFrame,
                       max_failures: int) -> pd.DataFrame:
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
    short = answers[answers["played_enough"] == 0].groupby("participant_id").size()
    table["short_play_flagged"] = table["participant_id"].map(short).fillna(0)
    table["short_play_refused"] = table["participant_id"].map(refusals.groupby("participant_id").size()).fillna(0)
    for col in ("preference_answers", "attention_answered", "attention_failed", "questions", "answers",
                "short_play_flagged", "short_play_refused"):
        table[col] = table[col].astype(int)
    return table


def study_report(store: StudyStore, labels: tuple[str, ...], max_attention_failures: int,
                 bootstrap_resamples: int = 2000, bootstrap_seed: int = 0) -> dict:
    """Headline metrics, the bar-chart table and the detailed tables, from the store's answers."""
    columns = ["participant_id", "position", "item_id", "kind", "split", "dialogue_id", "utterance_id", "meld_label",
               "melt_label", "text", "option_a", "source_a", "option_b", "source_b", "choice", "chosen_source",
               "answered_at", "media_played_s", "played_enough"]
    answers = pd.DataFrame(store.answers(), columns=columns)
    refusals = pd.DataFrame(store.play_refusals(), columns=["participant_id", "item_id", "media_played_s",
                                                            "min_play_s", "refused_at"])
    people = _participant_table(answers, store.participants(), refusals, max_attention_failures)
    excluded = set(people.loc[people["excluded"], "participant_id"])
    preference = answers[answers["kind"] == "preference"]
    short = preference["played_enough"] == 0
    counted = preference[~preference["participant_id"].isin(excluded) & ~short]
    counted = counted.assign(melt=counted["chosen_source"] == "melt")

    full = headline_share(counted, bootstrap_resamples, bootstrap_seed, "overall")
    headline_keys = ("prefer_melt", "ci_low", "ci_high", "answers")
    overall = {**{k: full[k] for k in headline_keys}, "participants": full["participants"],
               "attention_failures": len(excluded)}
    rows = [{"emotion": label, **headline_share(counted[counted["meld_label"] == label], bootstrap_resamples,
                                                 bootstrap_seed, f"emotion/{label}")} for label in labels]
    by_emotion = {r["emotion"]: {k: r[k] for k in headline_keys} for r in rows if r["answers"]}
    # Answers about emotions outside `labels` (the study set was sampled with other params) are still counted
    # overall; they are listed, not silently dropped.
    other = sorted(set(counted["meld_label"]) - set(labels))

    per_answer = preference.copy()
    per_answer["excluded_answers"] = per_answer["participant_id"].isin(excluded)
    per_answer["short_play"] = per_answer["played_enough"] == 0
    per_answer["counted"] = ~per_answer["excluded_answers"] & ~per_answer["short_play"]
    per_answer["melt_preferred"] = per_answer["counted"] & (per_answer["chosen_source"] == "melt")
    items = (per_answer.groupby([*KEY, "meld_label", "melt_label"], as_index=False)
             [["counted", "melt_preferred", "excluded_answers", "short_play"]].sum()
             .rename(columns={"counted": "answers"})
             .sort_values(["meld_label", *KEY], kind="stable"))
    kept = people[~people["excluded"]]
    demographics = {c: dict(sorted(Counter(kept[c].fillna("not given")).items())) for c in DEMOGRAPHICS}
    summary = {
        "overall": {**full, "attention_failures": len(excluded)},
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
        "play_time": {"short_play_answers_flagged": int((answers["played_enough"] == 0).sum()),
                      "preference_answers_left_out": int((short & ~preference["participant_id"].isin(excluded)).sum()),
                      "short_play_answers_refused": len(refusals),
                      "participants_refused": int(refusals["participant_id"].nunique())},
        "interval": (f"ci_low/ci_high: participant-level cluster bootstrap, percentile 95 %, {bootstrap_resamples} "
                     f"resamples, seed {bootstrap_seed} (null below 2 participants); wilson_low/wilson_high: Wilson "
                     "score 95 %, answers treated as independent"),
    }
    return {"metrics": {"overall": overall, "by_emotion": by_emotion}, "summary": summary,
            "preference": pd.DataFrame(rows, columns=PREFERENCE_COLUMNS), "participants": people, "items": items}


def run(store: StudyStore, labels: tuple[str, ...], max_attention_failures: int, metrics_path: Path,
        reports_dir: Path, bootstrap_resamples: int = 2000, bootstrap_seed: int = 0) -> dict:
    """Write `metrics_path` (headlines) and `reports_dir/{summary.json, preference.csv, preference.png,
    participants.csv, items.csv}`; returns the headline metrics."""
    result = study_report(store, labels, max_attention_failures, bootstrap_resamples, bootstrap_seed)
    reports_dir = Path(reports_dir)
    write_json(metrics_path, result["metrics"])
    write_json(reports_dir / "summary.json", result["summary"])
    pref = result["preference"]
    write_csv(pref[pref["answers"] > 0], reports_dir / "preference.csv")
    write_csv(result["participants"], reports_dir / "participants.csv")
    write_csv(result["items"], reports_dir / "items.csv")
    preference_chart(pref, reports_dir / "preference.png")
    return result["metrics"]
