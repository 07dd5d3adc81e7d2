"""study_report (share preferring MELT per MELD emotion, attention exclusions, Figure 3) and review_apply."""

from __future__ import annotations

import json
import random
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap

from melt.study.catalog import item_from_row, load_catalog
from melt.study.keys import item_id
from melt.study.params import StudyParams
from melt.study.report import cluster_bootstrap, run, share
from melt.study.review_apply import apply_reviews
from melt.study.store import StudyStore
from study_helpers import build_study, melt_row, wilson_by_hand, write_melt_dir

LABELS = ("anger", "disgust", "sadness", "joy", "neutral", "surprise", "fear")


@pytest.mark.parametrize("k, n", [(7, 10), (0, 5), (5, 5), (21, 42)])
def test_interval_is_wilsons(k, n):
    low, high = wilson_by_hand(k, n)
    assert share(k, n) == {"prefer_melt": round(k / n, 4), "ci_low": round(low, 4), "ci_high": round(high, 4),
                           "answers": n}


def _fill(store, catalog, n_people, rng, fail_attention=()):
    """Participants answering every question; returns the test's own record of (participant, item, source)."""
    record = []
    for n in range(n_people):
        pid, _ = store.create_participant({"gender": ["female", "male", None][n % 3]}, catalog.preference,
                                          catalog.attention, 4, 1)
        for q in store.questions(pid):
            if q["kind"] == "attention":
                want = "wrong" if n in fail_attention else "correct"
            else:
                want = rng.choice(["melt", "meld"])
            choice = q["option_a"] if q["source_a"] == want else q["option_b"]
            store.record_answer(pid, q["item_id"], choice, 0.3)
            record.append({"participant": pid, "kind": q["kind"], "meld": q["meld_label"], "source": want})
    return pd.DataFrame(record)


def scipy_cluster_interval(record: pd.DataFrame, stream: str, resamples: int = 2000, seed: int = 0) -> tuple:
    """The participant-level cluster bootstrap by scipy: participants' (MELT-preferred, answered) pairs resampled
    together, the statistic the pooled share; same generator seed as the report's stream."""
    per = record.assign(melt=record["source"] == "melt").groupby("participant")["melt"].agg(["sum", "size"])
    if len(per) < 2:
        return None, None   # one participant: nothing to resample
    res = bootstrap((per["sum"].to_numpy(), per["size"].to_numpy()), lambda k, n, axis: k.sum(axis) / n.sum(axis),
                    paired=True, vectorized=True, n_resamples=resamples, method="percentile",
                    rng=np.random.default_rng([seed, zlib.crc32(stream.encode())]))
    return round(float(res.confidence_interval.low), 4), round(float(res.confidence_interval.high), 4)


def test_report_matches_an_independent_count_and_excludes_attention_failures(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    store = StudyStore(tmp_path / "study" / "s.db")
    catalog = load_catalog(tmp_path / "data" / "study", tmp_path, store.secret)
    record = _fill(store, catalog, 9, random.Random(1), fail_attention={2, 5})
    metrics = run(store, LABELS, 0, tmp_path / "metrics" / "study.json", tmp_path / "reports")

    failed = set(record[(record["kind"] == "attention") & (record["source"] == "wrong")]["participant"])
    assert len(failed) == 2
    counted = record[(record["kind"] == "preference") & ~record["participant"].isin(failed)]
    k, n = int((counted["source"] == "melt").sum()), len(counted)
    assert n == 7 * 4
    low, high = scipy_cluster_interval(counted, "overall")
    assert metrics["overall"] == {"prefer_melt": round(k / n, 4), "ci_low": low, "ci_high": high,
                                  "answers": n, "participants": 7, "attention_failures": 2}
    expected, wilson = {}, {}
    for label, sub in counted.groupby("meld"):
        lo, hi = scipy_cluster_interval(sub, f"emotion/{label}")
        expected[label] = {"prefer_melt": round((sub["source"] == "melt").mean(), 4), "ci_low": lo, "ci_high": hi,
                           "answers": len(sub)}
        wilson[label] = tuple(round(x, 4) for x in wilson_by_hand(int((sub["source"] == "melt").sum()), len(sub)))
    assert metrics["by_emotion"] == expected
    assert json.loads((tmp_path / "metrics" / "study.json").read_text()) == metrics

    chart = pd.read_csv(tmp_path / "reports" / "preference.csv")
    assert list(chart["emotion"]) == [x for x in LABELS if x in expected]
    assert dict(zip(chart["emotion"], chart["answers"])) == {e: v["answers"] for e, v in expected.items()}
    # Wilson's interval, which treats answers as independent, stays beside the headline.
    assert {e: (lo, hi) for e, lo, hi in zip(chart["emotion"], chart["wilson_low"], chart["wilson_high"])} == wilson
    people = pd.read_csv(tmp_path / "reports" / "participants.csv")
    assert set(people.loc[people["excluded"], "participant_id"]) == failed
    assert (people["attention_answered"] == 1).all() and people["attention_failed"].sum() == 2
    items = pd.read_csv(tmp_path / "reports" / "items.csv")
    assert items["answers"].sum() == n and items["excluded_answers"].sum() == 2 * 4
    assert "item_id" not in items.columns   # rows named by their key: no public id leaves the database
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["participants"] == {"started": 9, "completed": 9, "excluded_attention": 2, "counted": 7}
    assert (summary["overall"]["wilson_low"], summary["overall"]["wilson_high"]) == tuple(
        round(x, 4) for x in wilson_by_hand(k, n))
    kept = record[~record["participant"].isin(failed)]["participant"].unique()
    assert sum(summary["demographics_of_counted_participants"]["gender"].values()) == len(kept)
    assert (tmp_path / "reports" / "preference.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # One failure allowed: nobody is excluded.
    relaxed = run(store, LABELS, 1, tmp_path / "m2.json", tmp_path / "r2")
    assert relaxed["overall"]["answers"] == 9 * 4 and relaxed["overall"]["attention_failures"] == 0


def test_identical_database_gives_identical_bytes(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    store = StudyStore(tmp_path / "s.db")
    catalog = load_catalog(tmp_path / "data" / "study", tmp_path, store.secret)
    _fill(store, catalog, 4, random.Random(3))
    for out in ("a", "b"):
        run(store, LABELS, 0, tmp_path / out / "study.json", tmp_path / out / "reports")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 6
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_no_database_yet_is_a_report_of_zero_answers(tmp_path):
    store = StudyStore(tmp_path / "study" / "melt-study.db", create=False)
    metrics = run(store, LABELS, 0, tmp_path / "study.json", tmp_path / "reports")
    assert metrics == {"overall": {"prefer_melt": None, "ci_low": None, "ci_high": None, "answers": 0,
                                   "participants": 0, "attention_failures": 0}, "by_emotion": {}}
    assert not (tmp_path / "study").exists()   # reading never creates the database
    assert pd.read_csv(tmp_path / "reports" / "preference.csv").empty


# --- review_apply ------------------------------------------------------------------------------------------------

def _queue(root, store):
    """The review queue's items by (split, dialogue, utterance), with the ids `store` gives them (these rows have
    no audio: no app catalog)."""
    queue = pd.read_csv(root / "data" / "study" / "review_queue.csv", dtype=str, keep_default_na=False)
    return {(r["split"], int(r["dialogue_id"]), int(r["utterance_id"])): item_from_row(
        {**r, "item_id": item_id(store.secret, r["split"], r["dialogue_id"], r["utterance_id"])})
        for r in queue.to_dict("records")}


def test_review_apply_writes_final_labels_with_their_source(tmp_path):
    rows = [melt_row("train", 1, 0, "joy", "anger"), melt_row("train", 1, 1, "fear", "neutral"),
            melt_row("dev", 2, 0, "sadness", "neutral"), melt_row("test", 3, 0, "joy", "joy"),
            melt_row("test", 3, 1, "anger", "disgust")]
    build_study(tmp_path, StudyParams(per_label=1, attention_items=0, media="audio"), rows)
    store = StudyStore(tmp_path / "db.sqlite")
    items = _queue(tmp_path, store)
    store.add_reviewer("alice")
    store.add_reviewer("bob")
    store.record_decision("alice", items[("train", 1, 0)], "joy", "meld", "")
    store.record_decision("alice", items[("train", 1, 1)], "neutral", "llm", "")
    store.record_decision("bob", items[("train", 1, 1)], "frustration", "reviewer", "later, wins")
    store.record_decision("bob", items[("test", 3, 1)], "anger", "meld", "")
    report = apply_reviews(store, tmp_path / "data" / "melt", tmp_path / "out", tmp_path / "review.json")

    decisions = {(d["split"], d["dialogue_id"], d["utterance_id"]): d for d in store.decisions()}
    expected = {("train", 1, 0): ("joy", "meld", "alice"), ("train", 1, 1): ("frustration", "reviewer", "bob"),
                ("dev", 2, 0): ("neutral", "llm", ""), ("test", 3, 0): ("joy", "llm", ""),
                ("test", 3, 1): ("anger", "meld", "bob")}
    for split in ("train", "dev", "test"):
        src = pd.read_csv(tmp_path / "data" / "melt" / f"{split}.csv", dtype=str, keep_default_na=False)
        out = pd.read_csv(tmp_path / "out" / f"{split}.csv", dtype=str, keep_default_na=False)
        assert list(out.columns) == [*src.columns, "final_label", "label_source", "reviewer", "reviewed_at"]
        pd.testing.assert_frame_equal(out[src.columns], src)   # the MELT columns pass through unchanged
        for r in out.to_dict("records"):
            key = (split, int(r["dialogue_id"]), int(r["utterance_id"]))
            assert (r["final_label"], r["label_source"], r["reviewer"]) == expected[key]
            assert r["reviewed_at"] == (decisions[key]["reviewed_at"] if expected[key][2] else "")
    assert report["splits"]["train"] == {"rows": 2, "reviewed": 2, "changed_from_llm": 2,
                                         "label_source": {"llm": 0, "meld": 1, "reviewer": 1}}
    assert report["stale_decisions"] == [] and report["decisions_without_row"] == []


def test_stale_and_orphan_decisions_are_reported_not_applied(tmp_path):
    rows = [melt_row("train", 1, 0, "joy", "anger"), melt_row("train", 1, 1, "fear", "neutral")]
    build_study(tmp_path, StudyParams(per_label=1, attention_items=0), rows)
    store = StudyStore(tmp_path / "db.sqlite")
    items = _queue(tmp_path, store)
    store.add_reviewer("alice")
    store.record_decision("alice", items[("train", 1, 0)], "joy", "meld", "")
    store.record_decision("alice", items[("train", 1, 1)], "fear", "meld", "")
    # The MELT CSVs change after the review: a new annotation run relabels one row, another row disappears.
    write_melt_dir(tmp_path, [melt_row("train", 1, 0, "joy", "surprise")])
    report = apply_reviews(store, tmp_path / "data" / "melt", tmp_path / "out", tmp_path / "review.json")
    out = pd.read_csv(tmp_path / "out" / "train.csv", dtype=str, keep_default_na=False)
    assert list(zip(out["final_label"], out["label_source"], out["reviewer"])) == [("surprise", "llm", "")]
    assert [s["reason"] for s in report["stale_decisions"]] == [
        "labels changed since review: LLM/MELD were anger/joy, now surprise/joy"]
    assert [(o["dialogue_id"], o["utterance_id"]) for o in report["decisions_without_row"]] == [(1, 1)]
    assert json.loads((tmp_path / "review.json").read_text()) == report


def test_cluster_bootstrap_is_scipys_and_wider_than_wilson_when_answers_cluster():
    """Six participants who each answer 8 items the same way: 24 of 48 answers prefer MELT. Wilson, treating the 48
    answers as independent, is narrow; resampling participants sees only 6 independent opinions."""
    k, n = np.array([8, 8, 8, 0, 0, 0]), np.array([8] * 6)
    low, high = cluster_bootstrap(k, n, 2000, 0, "overall")
    record = pd.DataFrame([{"participant": p, "source": "melt" if i < k[p] else "meld"}
                           for p in range(6) for i in range(8)])
    assert (low, high) == scipy_cluster_interval(record, "overall")
    w_low, w_high = wilson_by_hand(24, 48)
    assert high - low > 1.5 * (w_high - w_low)
    assert cluster_bootstrap(k[:1], n[:1], 2000, 0, "overall") == (None, None)   # one participant: no interval
    varied_k, varied_n = np.arange(20) % 7, np.full(20, 7) + np.arange(20) % 3
    assert cluster_bootstrap(varied_k, varied_n, 2000, 1, "x") != cluster_bootstrap(varied_k, varied_n, 2000, 0, "x")


def test_a_database_of_the_first_schema_is_refused_with_its_name(tmp_path):
    """Schema 1 named items by the unsalted hash of their key: it is refused (nothing changed), never re-keyed
    behind the user's back."""
    import sqlite3

    from melt.study.store import StoreError

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as con:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    before = old.read_bytes()
    for create in (True, False):
        with pytest.raises(StoreError, match=f"{old}: database schema 1, this melt-study reads schema 2"):
            StudyStore(old, create=create)
    assert old.read_bytes() == before
