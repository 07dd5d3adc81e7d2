"""prepare: the paper's filter, and every kind of bad input ends as an error or a recorded exclusion."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, meld_row, write_meld_csv, write_tone
from melt.data.audio import ffmpeg_exe
from melt.data.meld import CorpusError
from melt.data.params import PrepareParams
from melt.data.meld import PREPARED_COLUMNS
from melt.data.prepare import prepare_corpus, table1

PARAMS = PrepareParams()


def reasons(prepared) -> dict[str, str]:
    ex = prepared.excluded
    return {f"{s}/{d}/{u}": r for s, d, u, r in zip(ex["split"], ex["Dialogue_ID"], ex["Utterance_ID"], ex["reason"])}


def input_rows(folder: Path) -> int:
    return sum(len(pd.read_csv(folder / f"{s}_sent_emo.csv", dtype=str)) for s in ("train", "dev", "test"))


def test_paper_filter_on_tiny_corpus(tiny_corpus, tmp_path):
    prepared = prepare_corpus(tiny_corpus, None, PARAMS, tmp_path / "conv")
    assert prepared.speakers == ["ana", "ben"]
    assert {s: len(df) for s, df in prepared.splits.items()} == {"train": 24, "dev": 6, "test": 8}
    assert reasons(prepared) == {
        "train/100/0": "too_short", "train/100/1": "too_few_words",
        "train/100/2": "generic_speaker", "train/100/3": "rare_speaker",
    }
    train = prepared.splits["train"]
    assert list(train.columns) == list(PREPARED_COLUMNS)
    assert set(train["duration_source"]) == {"timestamps"}
    assert train["duration_s"].tolist()[0] == pytest.approx(1.5)
    assert train["filename"][0] == "dia0_utt0.wav"
    metrics = table1(prepared, "test")
    assert metrics["table1"]["train"] == {"utterances": 24, "speakers": 2, "mean_seconds": 1.5, "text_repaired_rows": 0}
    assert metrics["excluded"]["train"]["rare_speaker"] == 1
    assert len(prepared.excluded) + sum(map(len, prepared.splits.values())) == input_rows(tiny_corpus)


def test_mojibake_is_repaired_and_recorded(tiny_corpus, tmp_path):
    path = tiny_corpus / "dev_sent_emo.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[0, "Utterance"] = "You mustâ€™ve had your hands full."
    df.to_csv(path, index=False)
    prepared = prepare_corpus(tiny_corpus, None, PARAMS, tmp_path / "conv")
    dev = prepared.splits["dev"]
    assert dev.loc[0, "Utterance"] == "You must’ve had your hands full."
    assert dev["text_repaired"].tolist() == [True] + [False] * (len(dev) - 1)
    assert table1(prepared, "x")["table1"]["dev"]["text_repaired_rows"] == 1


def test_missing_column_names_file_and_column(tiny_corpus, tmp_path):
    df = pd.read_csv(tiny_corpus / "test_sent_emo.csv", dtype=str).drop(columns=["EndTime"])
    df.to_csv(tiny_corpus / "test_sent_emo.csv", index=False)
    with pytest.raises(CorpusError, match=r"test_sent_emo.csv: missing column\(s\) EndTime"):
        prepare_corpus(tiny_corpus, None, PARAMS, tmp_path / "conv")


def test_non_utf8_csv_names_file_and_line(tiny_corpus, tmp_path):
    rows = [meld_row(1, "Caf\u00e9 talk \u2019 here", "Ana", 0, 0, 1.0, 3.0)]
    write_meld_csv(tiny_corpus / "dev_sent_emo.csv", rows, encoding="cp1252")
    with pytest.raises(CorpusError, match=r"dev_sent_emo.csv: line 2 is not valid utf-8 \(byte 0xe9\)"):
        prepare_corpus(tiny_corpus, None, PARAMS, tmp_path / "conv")
    prepared = prepare_corpus(tiny_corpus, None, PrepareParams(csv_encoding="cp1252"), tmp_path / "conv")
    assert prepared.splits["dev"].loc[0, "Utterance"] == "Café talk ’ here"


@pytest.mark.parametrize(
    "change, reason, detail",
    [
        ({"StartTime": "00:00:xx,000"}, "bad_timestamp", "unparsable timestamp '00:00:xx,000'"),
        ({"StartTime": "00:01:00,000", "EndTime": "00:00:58,000"}, "reversed_timestamps", "is not after"),
        ({"Utterance": "   "}, "empty_utterance", "Utterance is empty"),
        ({"Dialogue_ID": "seven"}, "invalid_id", "Dialogue_ID 'seven'"),
        ({"Utterance_ID": "0", "Dialogue_ID": "0"}, "duplicate_key", "same Dialogue_ID/Utterance_ID as row 1"),
    ],
)
def test_bad_rows_are_excluded_with_reason(tiny_corpus, tmp_path, change, reason, detail):
    path = tiny_corpus / "test_sent_emo.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col, value in change.items():
        df.loc[2, col] = value
    df.to_csv(path, index=False)
    prepared = prepare_corpus(tiny_corpus, None, PARAMS, tmp_path / "conv")
    ex = prepared.excluded
    assert len(ex) == 5  # the four of the fixture, plus this one
    bad = ex[ex["split"] == "test"].iloc[0]
    assert (bad["row"], bad["reason"]) == (3, reason)
    assert detail in bad["detail"]
    assert len(prepared.splits["test"]) == 7


def _with_audio(corpus: Path, audio: Path) -> None:
    for split in ("train", "dev", "test"):
        df = pd.read_csv(corpus / f"{split}_sent_emo.csv", dtype=str)
        for d, u in zip(df["Dialogue_ID"], df["Utterance_ID"]):
            write_tone(audio / split / f"dia{d}_utt{u}.wav", 1.25)


def test_audio_gives_duration_and_bad_audio_is_excluded(tiny_corpus, tmp_path):
    audio = tmp_path / "audio"
    _with_audio(tiny_corpus, audio)
    (audio / "train" / "dia1_utt0.wav").unlink()
    (audio / "dev" / "dia0_utt0.wav").write_bytes(b"RIFF not really a wave file")
    prepared = prepare_corpus(tiny_corpus, audio, PARAMS, tmp_path / "conv")
    got = reasons(prepared)
    assert got["train/1/0"] == "audio_missing"
    assert got["dev/0/0"] == "audio_unreadable"
    train = prepared.splits["train"]
    assert set(train["duration_source"]) == {"audio"}
    assert train["duration_s"].tolist()[0] == pytest.approx(1.25)
    assert train["audio_path"][0].endswith("audio/train/dia0_utt0.wav")
    # "Too short here" is 0.5 s by timestamps but 1.25 s of audio: audio wins.
    assert "train/100/0" not in got


def test_audio_folder_layout_error(tiny_corpus, tmp_path):
    (tmp_path / "audio").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio folder for split 'train'"):
        prepare_corpus(tiny_corpus, tmp_path / "audio", PARAMS, tmp_path / "conv")


def test_mp4_is_converted_to_16k_mono_wav(tmp_path):
    corpus, audio = tmp_path / "corpus", tmp_path / "raw"
    for split, folder in (("train", "train_splits"), ("dev", "dev_splits_complete"), ("test", "output_repeated_splits_test")):
        write_meld_csv(corpus / f"{split}_sent_emo.csv",
                       [meld_row(1, "one two three four", "Ana", 0, 0, 1.0, 1.5)])
        wav = tmp_path / f"{split}.wav"
        write_tone(wav, 2.0, sr=44100)
        (audio / folder).mkdir(parents=True)
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(wav), "-ac", "2", "-c:a", "aac",
                        str(audio / folder / "dia0_utt0.mp4")], check=True)
    prepared = prepare_corpus(corpus, audio, PrepareParams(min_speaker_utterances=1), tmp_path / "conv")
    row = prepared.splits["test"].iloc[0]
    assert row["audio_path"] == (tmp_path / "conv" / "test" / "dia0_utt0.wav").as_posix()
    import soundfile as sf

    info = sf.info(row["audio_path"])
    assert (info.samplerate, info.channels) == (16000, 1)
    assert row["duration_s"] == pytest.approx(2.0, abs=0.05)
    # identical bytes on a second conversion (no encoder version or time in the WAV), no temp file left behind
    first = Path(row["audio_path"]).read_bytes()
    assert b"Lavf" not in first
    prepare_corpus(corpus, audio, PrepareParams(min_speaker_utterances=1), tmp_path / "conv")
    assert Path(row["audio_path"]).read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "conv" / "test").iterdir()) == ["dia0_utt0.wav"]


def test_values_later_stages_parse_are_validated_then_prompts_runs(tiny_corpus, tmp_path):
    """Bug (issue 9 §4): a non-numeric Season passed prepare and crashed `prompts` with a traceback."""
    from melt.annotate.params import AnnotateParams, PromptsParams
    from melt.annotate.requests import write_prompts
    from melt.data.params import DataParams
    from melt.data.prepare import run

    path = tiny_corpus / "train_sent_emo.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    bad = {0: ("Season", "S01"), 1: ("Episode", "ep2"), 2: ("Dialogue_ID", "x"), 3: ("Utterance_ID", "1.5"),
           4: ("Sr No.", ""), 5: ("Emotion", "frustration"), 6: ("Season", "1_0")}
    for i, (col, value) in bad.items():
        df.loc[i, col] = value
    df.loc[7, "Episode"] = " 02"            # an integer with padding is accepted and written canonically
    df.to_csv(path, index=False)
    data = DataParams(source="meld", meld_dir=tiny_corpus)
    params = PrepareParams(min_speaker_utterances=5)   # the bad rows leave Ana and Ben 8 and 9 qualifying rows
    run(data, params, tmp_path / "prepared", tmp_path / "metrics.json", tmp_path / "report.json")

    excluded = pd.read_csv(tmp_path / "prepared/excluded.csv", dtype=str, keep_default_na=False)
    train_ex = excluded[excluded["split"] == "train"].set_index("row")
    for i, (col, value) in bad.items():
        row = train_ex.loc[str(i + 1)]
        expected = "invalid_id" if col in ("Dialogue_ID", "Utterance_ID") else "invalid_value"
        assert row["reason"] == expected, (col, value)
        assert f"{col} {value!r}" in row["detail"]
    kept = {s: pd.read_csv(tmp_path / f"prepared/{s}.csv", dtype=str, keep_default_na=False) for s in ("train", "dev", "test")}
    assert sum(map(len, kept.values())) + len(excluded) == input_rows(tiny_corpus)
    assert kept["train"].loc[kept["train"]["Sr No."] == "8", "Episode"].tolist() == ["2"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["excluded"]["train"]["invalid_value"] == 5 and report["excluded"]["train"]["invalid_id"] == 2
    assert json.loads((tmp_path / "metrics.json").read_text()) == {s: {"kept": len(df)} for s, df in kept.items()}

    counts = write_prompts(tmp_path / "prepared", tmp_path / "prompts", PromptsParams(), AnnotateParams(),
                           templates_dir=REPO / "prompts")
    for name in ("text_heuristic", "audio_heuristic"):   # the demo panel: every kept row prompted for each
        assert counts[name] == {s: len(df) for s, df in kept.items()}


def test_dvc_stage_lists_the_params_that_change_outputs():
    """Every prepare param but the parallelism of the conversions is a dependency of the stage."""
    import yaml

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["prepare"]
    assert set(stage["params"]) == {"data"} | {f"prepare.{k}" for k in PrepareParams.model_fields} - {"prepare.convert_workers"}
