"""ERC dialogue readers on small fixtures in each release layout: turn order, speakers, label mapping, splits,
exclusions and notes (bad input: out-of-order transcripts, labels outside the set, missing audio, single turns)."""

from __future__ import annotations

import pandas as pd
import pytest

from erc_helpers import meld_corpus, write_iemocap, write_mosi
from melt.data.dialogues.cmumosi import STANDARD_FOLDS, read_cmumosi_dialogues
from melt.data.dialogues.iemocap import read_iemocap_dialogues
from melt.data.dialogues.meld import read_meld_dialogues
from melt.erc.data import build_tables, read_dataset, read_table
from melt.erc.params import ErcParams


def by_item(turns: pd.DataFrame) -> dict[str, dict]:
    """Rows by item id, missing values as None."""
    return {r["item_id"]: {k: None if pd.isna(v) else v for k, v in r.items()} for r in turns.to_dict("records")}


def test_iemocap_release_layout(tmp_path):
    # Ses01F_impro01: the transcript lists M000 before F000 although F000 starts first (out of time order).
    write_iemocap(tmp_path, {
        1: {"Ses01F_impro01": [("Ses01F_impro01_M000", 8.0, 10.0, "Do you have your forms?", "neu", True),
                               ("Ses01F_impro01_F000", 6.2, 7.9, "Excuse me.", "exc", True),
                               ("Ses01F_impro01_F001", 10.5, 12.0, "Yes, here they are.", "fru", True),
                               ("Ses01F_impro01_M001", 12.5, 14.0, "Thank you.", "hap", False),
                               ("Ses01F_impro01_F002", 15.0, 16.0, None, "ang", True)]},   # labelled, no text
        2: {"Ses02M_script01_1": [("Ses02M_script01_1_F000", 1.0, 2.0, "I am so angry.", "ang", True),
                                  ("Ses02M_script01_1_M000", 2.5, 3.0, "Why?", None, True)]},
        5: {"Ses05F_impro02": [("Ses05F_impro02_F000", 0.5, 1.5, "That is sad.", "sad", True)]}})
    turns, excluded = read_iemocap_dialogues(tmp_path)
    first = turns[turns["dialogue_id"] == "Ses01F_impro01"]
    assert list(first["item_id"]) == ["Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_impro01_F001",
                                      "Ses01F_impro01_M001"]
    assert list(first["turn"]) == [0, 1, 2, 3]
    assert list(first["speaker"]) == ["Ses01F", "Ses01M", "Ses01F", "Ses01M"]
    rows = by_item(turns)
    assert rows["Ses01F_impro01_F000"]["label"] == "joy"          # excited merged into happy → joy
    assert rows["Ses01F_impro01_M000"]["label"] == "neutral"
    assert rows["Ses01F_impro01_M001"]["label"] == "joy"
    assert rows["Ses01F_impro01_F001"]["label"] is None           # frustration: context only, with the reason
    assert "context only" in rows["Ses01F_impro01_F001"]["note"] and "'fru'" in rows["Ses01F_impro01_F001"]["note"]
    assert "out of time order" in rows["Ses01F_impro01_F000"]["note"]
    assert "audio missing" in rows["Ses01F_impro01_M001"]["note"]   # kept: the text side still predicts
    assert rows["Ses02M_script01_1_M000"]["label"] is None and "no label" in rows["Ses02M_script01_1_M000"]["note"]
    assert "single-turn dialogue" in rows["Ses05F_impro02_F000"]["note"]
    assert {r["item_id"]: r["split"] for r in rows.values() if r["turn"] == 0} == {
        "Ses01F_impro01_F000": "validation", "Ses02M_script01_1_F000": "train", "Ses05F_impro02_F000": "test"}
    assert list(excluded["item_id"]) == ["Ses01F_impro01_F002"] and "not in" in excluded["reason"].iloc[0]
    assert "out of time order" not in str(rows["Ses02M_script01_1_F000"]["note"])

    loso, _ = read_iemocap_dialogues(tmp_path, test_session=2, validation_session=5)   # leave-one-session-out
    assert dict(zip(loso["dialogue_id"], loso["split"])) == {"Ses01F_impro01": "train", "Ses02M_script01_1": "test",
                                                            "Ses05F_impro02": "validation"}


def test_iemocap_without_sessions_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Session"):
        read_iemocap_dialogues(tmp_path)


def test_cmumosi_raw_release(tmp_path):
    train, test = STANDARD_FOLDS["train"][0], STANDARD_FOLDS["test"][0]
    write_mosi(tmp_path, {
        train: [(1, 0.0, 2.0, 1.4, "i loved it", True), (2, 2.5, 4.0, -2.0, "but the end was bad", True),
                (3, 4.5, 6.0, 0.0, "it was a movie", False), (4, 6.5, 7.0, 9.0, "broken rating", True)],
        test: [(1, 0.0, 1.0, -0.4, "meh", True), (2, 1.2, 2.0, 0.6, None, True)],
        "not-a-fold": [(1, 0.0, 1.0, 1.0, "extra", True)]},
        transcript_order={train: [2, 1, 3, 4]})
    turns, excluded = read_cmumosi_dialogues(tmp_path)
    rows = by_item(turns)
    video = turns[turns["dialogue_id"] == train]
    assert list(video["item_id"]) == [f"{train}_{s}" for s in (1, 2, 3, 4)]   # by start time
    assert "out of time order" in rows[f"{train}_1"]["note"]
    assert [rows[f"{train}_{s}"]["label"] for s in (1, 2, 3)] == ["positive", "negative", "positive"]  # 0 → positive
    assert rows[f"{train}_3"]["score"] == 0.0 and "audio missing" in rows[f"{train}_3"]["note"]
    assert rows[f"{train}_4"]["label"] is None and "outside [-3, 3]" in rows[f"{train}_4"]["note"]
    assert set(video["split"]) == {"train"} and set(turns.loc[turns["dialogue_id"] == test, "split"]) == {"test"}
    reasons = dict(zip(excluded["item_id"], excluded["reason"]))
    assert "no transcript" in reasons[f"{test}_2"]
    assert reasons["not-a-fold_1"] == "video not in the standard CMU-MOSI folds"
    assert sum(len(v) for v in STANDARD_FOLDS.values()) == 93   # 52 / 10 / 31 videos
    assert [len(STANDARD_FOLDS[s]) for s in ("train", "validation", "test")] == [52, 10, 31]


def test_meld_format_dialogues_keep_order_and_score_the_same_turns(tmp_path):
    paths = meld_corpus(tmp_path, {"train": 2, "dev": 1, "test": 1}, missing_audio="test/dia0_utt1")
    # The paper's filter removed train dia0_utt1; derive found no valid MELT label for train dia1_utt0.
    prepared = pd.read_csv(paths["prepared"] / "train.csv")
    removed = prepared[(prepared["dialogue_id"] == 0) & (prepared["utterance_id"] == 1)]
    prepared.drop(removed.index).to_csv(paths["prepared"] / "train.csv", index=False)
    pd.DataFrame([{"reason": "too_short", "detail": "0.5 s < 1.0 s (audio)", "row": 2, "split": "train",
                   "dialogue_id": 0, "utterance_id": 1}]).to_csv(paths["prepared"] / "excluded.csv", index=False)
    melt = pd.read_csv(paths["melt"] / "train.csv")
    melt = melt[~((melt["dialogue_id"] == 1) & (melt["utterance_id"] == 0))]
    melt.to_csv(paths["melt"] / "train.csv", index=False)
    pd.DataFrame([{"reason": "no_valid_answer", "detail": "0:invalid frustration", "split": "train", "dialogue_id": 1,
                   "utterance_id": 0}]).to_csv(paths["melt"] / "excluded.csv", index=False)
    # Timestamps out of Utterance_ID order in test dia0 (as in a few MELD dialogues).
    test = pd.read_csv(paths["prepared"] / "test.csv")
    test.loc[(test["dialogue_id"] == 0) & (test["utterance_id"] == 0), "start_s"] = 99.0
    test.to_csv(paths["prepared"] / "test.csv", index=False)

    turns_melt, excluded = read_meld_dialogues(paths["prepared"], paths["melt"], "meld", "melt")
    turns_meld, _ = read_meld_dialogues(paths["prepared"], paths["melt"], "meld", "meld")
    dia0 = turns_melt[turns_melt["dialogue_id"] == "train/dia0"]
    assert list(dia0["item_id"]) == ["train/dia0_utt0", "train/dia0_utt2"]
    assert list(dia0["turn"]) == [0, 1]                                 # renumbered after the filter
    assert excluded.to_dict("records") == [{"dataset": "meld", "split": "train", "dialogue_id": "train/dia0",
                                            "item_id": "train/dia0_utt1",
                                            "reason": "removed by prepare (too_short: 0.5 s < 1.0 s (audio))"}]
    rows_melt, rows_meld = by_item(turns_melt), by_item(turns_meld)
    context = rows_melt["train/dia1_utt0"]
    assert context["label"] is None and rows_meld["train/dia1_utt0"]["label"] is None   # same turns scored
    assert "no valid MELT label (derive: no_valid_answer: 0:invalid frustration)" in context["note"]
    melt_src = pd.read_csv(paths["melt"] / "train.csv")
    for r in melt_src.itertuples():
        key = f"train/dia{r.dialogue_id}_utt{r.utterance_id}"
        if key in rows_melt:
            assert rows_melt[key]["label"] == r.llm_label and rows_meld[key]["label"] == r.Emotion
    assert set(turns_melt["split"]) == {"train", "validation", "test"}
    assert "audio missing" in rows_melt["test/dia0_utt1"]["note"]
    assert "StartTime order differs" in rows_melt["test/dia0_utt0"]["note"]


def test_tables_and_configuration_errors(tmp_path):
    paths = meld_corpus(tmp_path / "corpus", {"train": 2, "dev": 1, "test": 1})
    erc = ErcParams(datasets={"demo": "meld"})
    summary = build_tables(erc, "demo", {}, paths["prepared"], paths["melt"], tmp_path / "erc")
    table = read_table(tmp_path / "erc", "demo")
    expected, _ = read_meld_dialogues(paths["prepared"], paths["melt"], "demo", "meld")
    assert summary["demo"]["turns"] == len(table) == len(expected)
    assert list(table["item_id"]) == list(expected["item_id"]) and list(table["label"]) == list(expected["label"])
    assert (tmp_path / "erc" / "demo_excluded.csv").is_file()
    with pytest.raises(ValueError, match="data.source is 'demo'"):
        read_dataset(ErcParams(datasets={"meld": "meld"}), "meld", "demo", None, paths["prepared"], paths["melt"])
    with pytest.raises(ValueError, match="ser.corpora.iemocap.path is not set"):
        read_dataset(ErcParams(datasets={"iemocap": "emo4"}), "iemocap", "demo", None, paths["prepared"],
                     paths["melt"])
    with pytest.raises(ValueError, match="label set 'melt' not available"):
        ErcParams(datasets={"iemocap": "melt"})
