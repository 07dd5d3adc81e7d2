"""Evaluation-corpus readers on tiny fixtures in each standard release layout."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import write_tone
from melt.data.corpora import CorpusError, corpus_classes, read_corpus
from melt.data.labels import EMOTIONS


def by_id(df: pd.DataFrame) -> dict[str, tuple]:
    return {r.item_id: (r.emotion if isinstance(r.emotion, str) else None, r.reason if isinstance(r.reason, str)
                        else None) for r in df.itertuples()}


def test_tess_layout_maps_pleasant_surprise(tmp_path):
    for spk, emo in (("OAF", "angry"), ("OAF", "ps"), ("YAF", "happy"), ("YAF", "sad"), ("YAF", "neutral")):
        write_tone(tmp_path / f"{spk}_{emo}" / f"{spk}_back_{emo}.wav", 0.2)
    write_tone(tmp_path / "YAF_pleasant_surprised" / "YAF_dog_pleasant_surprised.wav", 0.2)
    write_tone(tmp_path / "YAF_bored" / "YAF_dog_bored.wav", 0.2)
    rows = by_id(read_corpus("tess", tmp_path))
    assert rows["OAF_ps/OAF_back_ps.wav"] == ("surprise", None)
    assert rows["YAF_pleasant_surprised/YAF_dog_pleasant_surprised.wav"] == ("surprise", None)
    assert rows["OAF_angry/OAF_back_angry.wav"] == ("anger", None)
    assert rows["YAF_happy/YAF_back_happy.wav"][0] == "joy"
    assert rows["YAF_bored/YAF_dog_bored.wav"][0] is None and "unknown label 'bored'" in rows["YAF_bored/YAF_dog_bored.wav"][1]
    assert corpus_classes("tess") == EMOTIONS


def test_ravdess_drops_calm_and_song(tmp_path):
    write_tone(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav", 0.2)  # angry speech
    write_tone(tmp_path / "Actor_01" / "03-01-02-01-01-01-01.wav", 0.2)  # calm
    write_tone(tmp_path / "Actor_02" / "03-02-03-01-01-01-02.wav", 0.2)  # happy song
    write_tone(tmp_path / "Actor_02" / "notes.wav", 0.2)
    df = read_corpus("ravdess", tmp_path)
    rows = by_id(df)
    assert rows["Actor_01/03-01-05-01-01-01-01.wav"] == ("anger", None)
    assert rows["Actor_01/03-01-02-01-01-01-01.wav"][0] is None and "calm" in rows["Actor_01/03-01-02-01-01-01-01.wav"][1]
    assert "song" in rows["Actor_02/03-02-03-01-01-01-02.wav"][1]
    assert "file name" in rows["Actor_02/notes.wav"][1]
    assert set(df["speaker"].dropna()) == {"actor_01", "actor_02"}
    assert len(corpus_classes("ravdess")) == 7 and "neutral" in corpus_classes("ravdess")


def test_cremad_six_classes(tmp_path):
    for emo in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD"):
        write_tone(tmp_path / "AudioWAV" / f"1001_DFA_{emo}_XX.wav", 0.2)
    df = read_corpus("cremad", tmp_path)
    assert sorted(df["emotion"]) == sorted(corpus_classes("cremad"))
    assert set(corpus_classes("cremad")) == set(EMOTIONS) - {"surprise"}
    assert df["reason"].isna().all() and set(df["speaker"]) == {"1001"}


def test_iemocap_four_classes_excited_merged(tmp_path):
    session = tmp_path / "Session1"
    labels = {"Ses01F_impro01_F000": "neu", "Ses01F_impro01_M001": "exc", "Ses01F_impro01_F002": "fru",
              "Ses01F_impro01_F003": "hap", "Ses01F_impro01_M004": "ang", "Ses01F_impro01_F005": "sad",
              "Ses01F_impro01_F006": "neu"}
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, (turn, emo) in enumerate(labels.items()):
        lines += [f"[{i}.0000 - {i + 1}.5000]\t{turn}\t{emo}\t[2.5000, 2.5000, 2.5000]", f"C-E1:\t{emo};\t()", ""]
        if turn != "Ses01F_impro01_F006":  # labelled but its audio is missing
            write_tone(session / "sentences" / "wav" / "Ses01F_impro01" / f"{turn}.wav", 0.2)
    (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (session / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text("\n".join(lines))
    rows = by_id(read_corpus("iemocap", tmp_path))
    assert len(rows) == len(labels)  # per-annotator lines are not turns
    assert rows["Ses01F_impro01_M001"] == ("joy", None) and rows["Ses01F_impro01_F003"] == ("joy", None)
    assert rows["Ses01F_impro01_F002"][0] is None and "frustration" in rows["Ses01F_impro01_F002"][1]
    assert "audio missing" in rows["Ses01F_impro01_F006"][1]
    assert corpus_classes("iemocap") == ("anger", "sadness", "joy", "neutral")


def test_missing_path_names_the_param(tmp_path):
    with pytest.raises(CorpusError, match=r"ser\.corpora\.iemocap\.path is not set"):
        read_corpus("iemocap", None)
    with pytest.raises(CorpusError, match=r"ser\.corpora\.tess\.path = .*no such folder"):
        read_corpus("tess", tmp_path / "nope")
    with pytest.raises(CorpusError, match="no .wav files"):
        read_corpus("cremad", tmp_path)


def test_acted_corpus_reads(tmp_path):
    from melt.data.corpora import READERS  # the committed demo uses the TESS layout
    from conftest import REPO

    df = read_corpus("acted", REPO / "demo" / "acted")   # committed: a missing demo must fail, not skip
    assert READERS["acted"] is READERS["tess"]
    kept = df[df["reason"].isna()]
    assert len(kept) > 0 and set(kept["emotion"]) <= set(EMOTIONS)
