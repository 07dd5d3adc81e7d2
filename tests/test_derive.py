"""derive: majority vote with its tie rules, character check, MELT layout, every row accounted for."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from derive_fixtures import record, write_annotations, write_jsonl, write_panel_json, write_prepared
from melt.analysis import derive
from melt.analysis.annotations import AnnotationError, Answer
from melt.analysis.character import character_check
from melt.analysis.layout import EXCLUDED_COLUMNS, MELT_COLUMNS, RELEASED_COLUMNS
from melt.analysis.params import DeriveParams
from melt.analysis.vote import majority_vote
from melt.data.labels import EMOTIONS


def answers(*labels):
    return [Answer(sample=i, status="ok" if lab else "invalid", label=lab, parsed=None, raw=None,
                   error=None if lab else "bad", key=f"k{i}", model="m", backend="offline")
            for i, lab in enumerate(labels)]


def test_majority_vote_and_tie_rules():
    v = majority_vote(answers("joy", "anger", "joy", None))
    assert (v.label, v.votes, v.confidence, v.tied, v.source.sample) == ("joy", {"joy": 2, "anger": 1}, 0.5, False, 0)
    tie = answers("surprise", "anger", "anger", "surprise")
    assert majority_vote(tie, "first_sample").label == "surprise"     # sample 0 said it first
    assert majority_vote(tie, "label_order").label == "anger"         # anger precedes surprise in EMOTIONS
    excluded = majority_vote(tie, "exclude")
    assert excluded.label is None and excluded.tied and excluded.votes == {"surprise": 2, "anger": 2}
    assert majority_vote(answers(None, None)).label is None


@pytest.mark.parametrize("character, speaker, expected", [
    ("Joey", "joey", "match"), ("Joey Tribbiani", "joey", "match"), ("  RACHEL!", "rachel", "match"),
    ("Mr. Geller", "ross", "mismatch"), ("Ross", "mrs. geller", "mismatch"), (None, "ross", "missing"),
    ("", "ross", "missing"), ("Chloé", "chloe", "match"),
])
def test_character_check(character, speaker, expected):
    assert character_check(character, speaker) == expected


def test_derive_writes_melt_layout_and_accounts_for_every_row(tmp_path):
    prepared = write_prepared(tmp_path / "prepared")
    records = write_annotations(tmp_path / "ann", prepared, samples=3)
    # train: one utterance not annotated, one answered invalidly by every sample; one orphan record
    records["train"] = [r for r in records["train"] if (r["dialogue_id"], r["utterance_id"]) != (0, 0)]
    records["train"] = [r for r in records["train"] if (r["dialogue_id"], r["utterance_id"]) != (0, 1)]
    records["train"] += [record("train", 0, 1, s, None, status="invalid", raw_label="comfort",
                                error="out-of-set label 'comfort'") for s in range(3)]
    records["train"].append(record("train", 999, 0, 0, "joy"))
    write_jsonl(tmp_path / "ann/llm/train.jsonl", records["train"])

    metrics = derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt",
                         tmp_path / "headline.json", tmp_path / "m.json")

    excluded = pd.read_csv(tmp_path / "melt/excluded.csv", dtype=str, keep_default_na=False)
    assert list(excluded.columns) == [*EXCLUDED_COLUMNS, "panel_agreement", "label_llm", "confidence_llm"]
    by_key = {(r["Dialogue_ID"], r["Utterance_ID"]): r for r in excluded.to_dict("records")}
    assert by_key["0", "0"]["reason"] == "not_annotated"
    assert by_key["0", "1"]["reason"] == "no_valid_answer" and "comfort" in by_key["0", "1"]["llm_answers"]
    assert metrics["splits"]["train"]["orphan_annotations"] == 1
    assert metrics["splits"]["train"]["orphan_examples"] == ["dia999_utt0"]

    for split, prep in prepared.items():
        melt = pd.read_csv(tmp_path / f"melt/{split}.csv", dtype=str, keep_default_na=False)
        assert list(melt.columns) == [*MELT_COLUMNS, "panel_agreement", "label_llm", "confidence_llm"]
        assert list(melt.columns[: len(RELEASED_COLUMNS)]) == list(RELEASED_COLUMNS)
        assert len(melt) + (excluded["split"] == split).sum() == len(prep)
        assert set(melt["llm_label"]) <= set(EMOTIONS)
        assert (melt["filename"] == "dia" + melt["Dialogue_ID"] + "_utt" + melt["Utterance_ID"] + ".wav").all()
        # the vote, recomputed from the records with pandas
        recs = pd.DataFrame([r for r in records[split] if r["dialogue_id"] < 999])
        for row in melt.to_dict("records"):
            mine = recs[(recs.dialogue_id == int(row["dialogue_id"])) & (recs.utterance_id == int(row["utterance_id"]))]
            counts = Counter(mine.loc[mine.status == "ok", "label"])
            assert counts[row["llm_label"]] == max(counts.values())
            assert json.loads(row["llm_votes"]) == dict(counts)
            assert float(row["llm_confidence"]) == pytest.approx(counts[row["llm_label"]] / len(mine), abs=1e-6)
            first = mine[mine.label == row["llm_label"]].sort_values("sample").iloc[0]
            assert row["annotation_key"] == first["key"]
            assert row["context"] == first["parsed"]["context"] and row["loudness"] == "loud"
            # one annotator: its label is the panel's, agreement 1, its vote share beside it
            assert (row["label_llm"], row["panel_agreement"], row["confidence_llm"]) == \
                (row["llm_label"], "1.0", row["llm_confidence"])
        assert metrics["splits"][split]["labelled"] == len(melt)
        assert sum(metrics["splits"][split]["character_check"].values()) == len(melt)
    # the declared metric: labelled rows over the splits, counted here from the written files (the excluded ones
    # are the prepared rows less these: in the report, not a headline)
    labelled = sum(len(pd.read_csv(tmp_path / f"melt/{s}.csv")) for s in prepared)
    assert json.loads((tmp_path / "headline.json").read_text()) == {"labelled": labelled}
    assert sum(m["excluded"] for m in metrics["splits"].values()) == len(excluded)


def test_tie_exclude_and_min_confidence(tmp_path):
    prepared = write_prepared(tmp_path / "prepared", sizes=(("train", 3), ("dev", 3), ("test", 3)))
    for split in prepared:
        recs = [record(split, 0, 0, 0, "joy"), record(split, 0, 0, 1, "anger"),                 # tie
                record(split, 0, 1, 0, "fear"), record(split, 0, 1, 1, "fear"),                  # unanimous
                record(split, 0, 2, 0, "sadness"), record(split, 0, 2, 1, None, status="failed", error="timeout")]
        write_jsonl(tmp_path / f"ann/llm/{split}.jsonl", recs)
    write_panel_json(tmp_path / "ann", {"llm": 2})
    derive.run(DeriveParams(tie_break="exclude", min_confidence=0.6), tmp_path / "prepared", tmp_path / "ann",
               tmp_path / "melt", tmp_path / "m.json",
                   tmp_path / "r.json")
    excluded = pd.read_csv(tmp_path / "melt/excluded.csv")
    melt = pd.read_csv(tmp_path / "melt/test.csv")
    assert melt["Utterance_ID"].tolist() == [1] and melt["llm_confidence"].tolist() == [1.0]
    reasons = dict(zip(excluded[excluded.split == "test"]["Utterance_ID"], excluded[excluded.split == "test"]["reason"]))
    assert reasons == {0: "tie", 2: "low_confidence"}


def test_bad_annotation_lines_name_file_and_line(tmp_path):
    prepared = write_prepared(tmp_path / "prepared", sizes=(("train", 3), ("dev", 3), ("test", 3)))
    write_annotations(tmp_path / "ann", prepared)
    path = tmp_path / "ann/llm/dev.jsonl"
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(AnnotationError, match=r"dev\.jsonl:4: not valid JSON"):
        derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "m.json",
                   tmp_path / "r.json")
    write_jsonl(path, [record("dev", 0, 0, 0, "joy"), {**record("dev", 0, 1, 0, "joy"), "label": "frustration"}])
    with pytest.raises(AnnotationError, match=r"dev\.jsonl:2: status 'ok' with label 'frustration'"):
        derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "m.json",
                   tmp_path / "r.json")
    write_jsonl(path, [record("dev", 0, 0, 0, "joy"), record("dev", 0, 0, 0, "anger")])
    with pytest.raises(AnnotationError, match=r"dev\.jsonl:2: sample 0 of dia0_utt0 already on line 1"):
        derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "m.json",
                   tmp_path / "r.json")


def test_prepared_csv_missing_a_column_names_file_and_column(tmp_path):
    from melt.analysis.layout import MeltCsvError

    prepared = write_prepared(tmp_path / "prepared", sizes=(("train", 3), ("dev", 3), ("test", 3)))
    write_annotations(tmp_path / "ann", prepared)
    prepared["test"].drop(columns=["Season"]).to_csv(tmp_path / "prepared/test.csv", index=False)
    with pytest.raises(MeltCsvError, match=r"test\.csv: missing column\(s\) Season"):
        derive.run(DeriveParams(), tmp_path / "prepared", tmp_path / "ann", tmp_path / "melt", tmp_path / "m.json",
                   tmp_path / "r.json")
