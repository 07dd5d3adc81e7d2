"""ERC dialogue readers on small fixtures in each release layout: turn order, speakers, label mapping, splits,
exclusions and notes (bad input: out-of-order transcripts, labels outside the set, missing audio, single turns)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import meld_dir
from erc_helpers import meld_corpus, write_iemocap, write_mosi
from melt.data.dialogues.cmumosi import STANDARD_FOLDS, read_cmumosi_dialogues
from melt.data.dialogues.iemocap import read_iemocap_dialogues
from melt.data.dialogues.meld import read_meld_dialogues
from melt.erc.data import build_tables, read_dataset
from melt.erc.table import read_table
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
    assert list(excluded["item_id"]) == ["Ses01F_impro01_F002"] and "not in" in excluded["reason"].iloc[0]
    assert "out of time order" not in str(rows["Ses02M_script01_1_F000"]["note"])
    assert rows["Ses05F_impro02_F000"]["split"] == "test"

    by_session, _ = read_iemocap_dialogues(tmp_path, validation_session=1)   # the former default: Session 1
    assert dict(zip(by_session["dialogue_id"], by_session["split"])) == {
        "Ses01F_impro01": "validation", "Ses02M_script01_1": "train", "Ses05F_impro02": "test"}
    loso, _ = read_iemocap_dialogues(tmp_path, test_session=2, validation_session=5)   # leave-one-session-out
    assert dict(zip(loso["dialogue_id"], loso["split"])) == {"Ses01F_impro01": "train", "Ses02M_script01_1": "test",
                                                            "Ses05F_impro02": "validation"}


def test_iemocap_default_split_is_sessions_1_to_4_with_a_seeded_tenth_held_out(tmp_path):
    """The common ERC convention: Session 5 test; of Sessions 1–4's 20 dialogues, a seeded 10 % (2) validation —
    the two first by sha256("<seed>/<dialogue>"), computed here by hand — and the other 18 train."""
    import hashlib

    sessions = {n: {f"Ses0{n}F_impro0{k}": [(f"Ses0{n}F_impro0{k}_F000", 1.0, 2.0, "Hello there.", "neu", False)]
                    for k in range(1, 6)} for n in range(1, 6)}
    write_iemocap(tmp_path, sessions)
    non_test = sorted(d for n, dialogs in sessions.items() if n != 5 for d in dialogs)
    for seed in (0, 1):
        ranked = sorted(non_test, key=lambda d: hashlib.sha256(f"{seed}/{d}".encode()).hexdigest())
        turns, _ = read_iemocap_dialogues(tmp_path, validation_seed=seed)
        split = dict(zip(turns["dialogue_id"], turns["split"]))
        assert {d for d, s in split.items() if s == "validation"} == set(ranked[:2])
        assert {d for d, s in split.items() if s == "train"} == set(ranked[2:])     # all four sessions train
        assert {d for d, s in split.items() if s == "test"} == set(sessions[5])
    erc = ErcParams.model_validate({"datasets": {"iemocap": "emo4"}})
    assert erc.iemocap.validation_session is None and erc.iemocap.validation_fraction == 0.1
    assert erc.iemocap.describe() == "Session 5 test, 10% of the other sessions' dialogues validation (seed 0)"
    turns, _ = read_dataset(erc, "iemocap", "demo", tmp_path, tmp_path, tmp_path)      # the params reach the reader
    assert (turns["split"] == "validation").sum() == 2
    session1 = ErcParams.model_validate({"datasets": {"iemocap": "emo4"}, "iemocap": {"validation_session": 1}})
    turns, _ = read_dataset(session1, "iemocap", "demo", tmp_path, tmp_path, tmp_path)
    assert set(turns.loc[turns["split"] == "validation", "dialogue_id"]) == set(sessions[1])


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


SET_ASIDE = {"train/dia0_utt1": "too_short", "train/dia1_utt2": "audio_missing", "test/dia0_utt2": "rare_speaker",
             "train/dia1_utt0": "duplicate_key"}


def test_meld_every_utterance_is_a_turn_and_the_melt_subset_is_declared(tmp_path):
    """All of MELD: the rows prepare kept (the MELT subset) and those it set aside are turns in Utterance_ID order;
    only an unplaceable row is excluded. Expected values computed with pandas from the fixture's own files."""
    paths = meld_corpus(tmp_path, {"train": 2, "dev": 1, "test": 1}, missing_audio="test/dia0_utt1",
                        set_aside=SET_ASIDE)
    # derive found no valid MELT label for train dia0_utt2 (out of set) and none at all for train dia1_utt1
    melt = pd.read_csv(paths["melt"] / "train.csv")
    melt.loc[(melt["dialogue_id"] == 0) & (melt["utterance_id"] == 2), "llm_label"] = "frustration"
    melt = melt[~((melt["dialogue_id"] == 1) & (melt["utterance_id"] == 1))]
    melt.to_csv(paths["melt"] / "train.csv", index=False)
    pd.DataFrame([{"reason": "no_valid_answer", "detail": "0:invalid comfort", "split": "train", "dialogue_id": 1,
                   "utterance_id": 1}]).to_csv(paths["melt"] / "excluded.csv", index=False)
    # Timestamps out of Utterance_ID order in test dia0 (as in a few MELD dialogues).
    test = pd.read_csv(paths["prepared"] / "test.csv")
    test.loc[(test["dialogue_id"] == 0) & (test["utterance_id"] == 0), "start_s"] = 99.0
    test.to_csv(paths["prepared"] / "test.csv", index=False)

    turns_meld, excluded = read_meld_dialogues(paths["prepared"], tmp_path / "no-melt-dir", "meld", "meld")
    turns_melt, excluded_melt = read_meld_dialogues(paths["prepared"], paths["melt"], "meld", "melt")
    # every utterance of each split is a turn, except the one prepare could not place (duplicate_key)
    kept = {s: pd.read_csv(paths["prepared"] / f"{s}.csv") for s in ("train", "dev", "test")}
    aside = pd.read_csv(paths["prepared"] / "excluded.csv")
    split_names = {"train": "train", "dev": "validation", "test": "test"}
    for source, split in split_names.items():
        expected = len(kept[source]) + ((aside["split"] == source) & (aside["reason"] != "duplicate_key")).sum()
        assert (turns_meld["split"] == split).sum() == (turns_melt["split"] == split).sum() == expected
    assert excluded.to_dict("records") == excluded_melt.to_dict("records") == [
        {"dataset": "meld", "split": "train", "dialogue_id": "train/dia1", "item_id": "train/dia1_utt0",
         "reason": "removed by prepare (duplicate_key: duplicate_key (test fixture)): no place in a dialogue"}]
    dia0 = turns_meld[turns_meld["dialogue_id"] == "train/dia0"]
    assert list(dia0["item_id"]) == ["train/dia0_utt0", "train/dia0_utt1", "train/dia0_utt2"]   # set-aside row kept
    assert list(dia0["turn"]) == [0, 1, 2]

    rows_meld, rows_melt = by_item(turns_meld), by_item(turns_melt)
    in_subset = {f"{s}/dia{d}_utt{u}" for s, df in kept.items() for d, u in zip(df["dialogue_id"], df["utterance_id"])}
    assert {i for i, r in rows_meld.items() if r["subset"] == "melt"} == in_subset
    assert {i for i, r in rows_melt.items() if r["subset"] == "melt"} == in_subset
    emotions = pd.concat([kept[s].assign(source=s) for s in kept] + [aside.assign(source=aside["split"])])
    for r in emotions.itertuples():
        item = f"{r.source}/dia{r.dialogue_id}_utt{r.utterance_id}"
        if item in rows_meld:
            assert rows_meld[item]["label"] == r.Emotion                 # MELD labels on every turn
    assert "not in the MELT subset (prepare: too_short" in rows_meld["train/dia0_utt1"]["note"]
    assert rows_meld["train/dia0_utt1"]["audio_path"]                  # set aside after its audio was found
    assert rows_meld["train/dia1_utt2"]["audio_path"] is None          # prepare found no audio: a text-only turn
    assert "audio missing: prepare: audio_missing" in rows_meld["train/dia1_utt2"]["note"]

    melt_labels = {f"train/dia{d}_utt{u}": v for d, u, v in zip(melt["dialogue_id"], melt["utterance_id"],
                                                                 melt["llm_label"])}
    for item, r in rows_melt.items():
        if item not in in_subset:
            assert r["label"] is None and r["note"].startswith("context only: not in the MELT subset")
        elif item.startswith("train/") and melt_labels.get(item) not in (None, "frustration"):
            assert r["label"] == melt_labels[item]
    assert rows_melt["train/dia0_utt2"]["label"] is None
    assert "llm_label 'frustration' is not one of the seven" in rows_melt["train/dia0_utt2"]["note"]
    assert rows_melt["train/dia1_utt1"]["label"] is None
    assert "derive: no_valid_answer: 0:invalid comfort" in rows_melt["train/dia1_utt1"]["note"]
    assert "audio missing" in rows_melt["test/dia0_utt1"]["note"]
    assert "StartTime order differs" in rows_melt["test/dia0_utt0"]["note"]
    # MELD labels never read data/melt: the table is the same whatever the annotation run said
    again, _ = read_meld_dialogues(paths["prepared"], paths["melt"], "meld", "meld")
    pd.testing.assert_frame_equal(again, turns_meld)


@pytest.mark.meld
@pytest.mark.skipif(meld_dir() is None, reason="real MELD CSVs not found (set MELT_MELD_DIR)")
def test_real_meld_erc_table_has_every_utterance(tmp_path):
    """With the real MELD CSVs (text only): the `meld` ERC table holds all 9,989 / 1,109 / 2,610 utterances, labelled
    with MELD's Emotion (pandas on the raw CSVs), and the MELT subset is exactly the paper filter's 7,032 / 779 /
    1,796 rows."""
    from melt.data.params import DataParams, PrepareParams
    from melt.data.prepare import run

    meld = meld_dir()
    run(DataParams(source="meld", meld_dir=meld), PrepareParams(), tmp_path / "prepared", tmp_path / "m.json")
    erc = ErcParams(datasets={"meld": "meld"})
    summary = build_tables(erc, "meld", {}, tmp_path / "prepared", tmp_path / "absent", tmp_path / "erc")
    table = read_table(tmp_path / "erc", "meld")
    assert summary["meld"]["per_split"] == {"train": 9989, "validation": 1109, "test": 2610}
    assert table.groupby("split").size().to_dict() == {"train": 9989, "validation": 1109, "test": 2610}
    assert table[table["subset"] == "melt"].groupby("split").size().to_dict() == {"train": 7032, "validation": 779,
                                                                                    "test": 1796}
    assert table["item_id"].is_unique and table["label"].notna().all()
    for source, split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        raw = pd.read_csv(meld / f"{source}_sent_emo.csv", dtype=str)
        expected = {f"{source}/dia{d}_utt{u}": e.strip().lower()
                    for d, u, e in zip(raw["Dialogue_ID"], raw["Utterance_ID"], raw["Emotion"])}
        part = table[table["split"] == split]
        assert dict(zip(part["item_id"], part["label"])) == expected
    assert (read_table(tmp_path / "erc", "meld")["audio_path"].isna()).all()   # text only: every turn says so
    assert table["note"].str.contains("audio missing").all()


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
