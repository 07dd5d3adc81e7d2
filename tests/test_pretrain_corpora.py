"""Unlabelled corpora: MSP-Podcast layout, any audio folder, the demo; every file not used is listed with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from melt.data.corpora.unlabelled import read_unlabelled
from melt.data.meld import CorpusError
from melt.pretrain.params import AsrParams, PretrainParams
from melt.pretrain.transcribe import transcribe_corpus
from pretrain_helpers import tone, write_audio

REPO = Path(__file__).resolve().parents[1]


def msp_fixture(root: Path) -> Path:
    """MSP-Podcast layout with one of everything: a transcribed wav, a flac without transcript, a transcript
    in cp1252, an orphan transcript, a non-audio file in Audios/, labels, and an unrelated file."""
    write_audio(root / "Audios" / "MSP-PODCAST_0001_0001.wav", tone(1.5))
    write_audio(root / "Audios" / "MSP-PODCAST_0001_0002.flac", tone(1.0, 330))
    write_audio(root / "Audios" / "MSP-PODCAST_0002_0001.wav", tone(2.0, 440))
    (root / "Transcripts").mkdir()
    (root / "Transcripts" / "MSP-PODCAST_0001_0001.txt").write_text("  I really  loved\nthat show. \n", encoding="utf-8")
    (root / "Transcripts" / "MSP-PODCAST_0002_0001.txt").write_bytes("Caf\u00e9 talk, na\u00efve".encode("cp1252"))
    (root / "Transcripts" / "MSP-PODCAST_0009_0001.txt").write_text("no audio for me", encoding="utf-8")
    (root / "Audios" / "notes.json").write_text("{}", encoding="utf-8")
    (root / "Labels").mkdir()
    (root / "Labels" / "labels_consensus.csv").write_text("FileName,EmoClass\nMSP-PODCAST_0001_0001.wav,H\n")
    (root / "README.txt").write_text("release notes")
    return root


def test_msp_podcast_layout_items_and_every_unused_file(tmp_path):
    root = msp_fixture(tmp_path / "msp")
    items, excluded = read_unlabelled("msp_podcast", root)
    assert items["item_id"].tolist() == ["MSP-PODCAST_0001_0001", "MSP-PODCAST_0001_0002", "MSP-PODCAST_0002_0001"]
    assert items["transcript"].tolist() == ["I really loved that show.", "", ""]
    assert items["transcript_error"].iloc[1] == ""                       # no transcript is not an error
    assert items["transcript_error"].iloc[2].startswith("transcript not UTF-8: ")
    assert str(root / "Transcripts" / "MSP-PODCAST_0002_0001.txt") in items["transcript_error"].iloc[2]
    reasons = dict(zip(excluded["path"].map(lambda p: Path(p).relative_to(root).as_posix()), excluded["reason"]))
    assert reasons == {
        "Audios/notes.json": "not an audio file (.wav, .flac, .ogg, .mp3)",
        "Labels/labels_consensus.csv": "labels ignored: the corpus is treated as unlabelled",
        "README.txt": "outside Audios/ and Transcripts/",
        "Transcripts/MSP-PODCAST_0009_0001.txt": "transcript without audio",
    }
    # nothing silent: every file under the root is an item, its transcript, or an exclusion
    files = {p for p in root.rglob("*") if p.is_file()}
    accounted = {Path(p) for p in items["audio_path"]} | {Path(p) for p in items["transcript_path"] if p} \
        | {Path(p) for p in excluded["path"]}
    assert accounted == files


def test_audio_folder_is_recursive_with_sidecar_transcripts(tmp_path):
    root = tmp_path / "calls"
    write_audio(root / "b" / "x.wav", tone(1.0))
    (root / "b" / "x.txt").write_text("hello there\n", encoding="utf-8")
    write_audio(root / "a.flac", tone(1.0))
    write_audio(root / "a.wav", tone(1.2))                 # same item id as a.flac
    (root / "orphan.txt").write_text("nobody said this", encoding="utf-8")
    (root / "cover.png").write_bytes(b"\x89PNG")
    items, excluded = read_unlabelled("folder", root)
    assert items[["item_id", "transcript"]].values.tolist() == [["a", ""], ["b/x", "hello there"]]
    assert Path(items["audio_path"].iloc[0]).name == "a.flac"
    assert sorted(zip(excluded["item_id"], excluded["reason"])) == [
        ("a", "duplicate item id (same name, another audio extension)"),
        ("cover", "not an audio file (.wav, .flac, .ogg, .mp3)"),
        ("orphan", "transcript without audio")]


def test_max_items_lists_the_rest(tmp_path):
    root = tmp_path / "f"
    for i in range(4):
        write_audio(root / f"u{i}.wav", tone(1.0))
    items, excluded = read_unlabelled("folder", root, max_items=3)
    assert items["item_id"].tolist() == ["u0", "u1", "u2"]
    assert excluded.values.tolist() == [["u3", str(root / "u3.wav"), "beyond pretrain.max_items (3)"]]


def test_clear_errors_name_the_setting(tmp_path):
    (tmp_path / "empty" / "Audios").mkdir(parents=True)
    (tmp_path / "empty" / "Audios" / "readme.md").write_text("x")
    with pytest.raises(CorpusError, match=r"pretrain.corpus.path = .*empty.*: no audio files"):
        read_unlabelled("msp_podcast", tmp_path / "empty")
    with pytest.raises(CorpusError, match=r"no Audios/ folder"):
        read_unlabelled("msp_podcast", tmp_path)
    with pytest.raises(CorpusError, match=r"pretrain.corpus.path is not set"):
        read_unlabelled("folder", None)
    with pytest.raises(CorpusError, match=r"no such folder"):
        read_unlabelled("folder", tmp_path / "missing")


def test_bad_audio_and_transcripts_become_exclusions_with_reasons(tmp_path):
    root = msp_fixture(tmp_path / "msp")
    audios = root / "Audios"
    (audios / "MSP-PODCAST_0003_0001.wav").write_bytes(b"RIFF....not really a wave file")
    sf.write(str(audios / "MSP-PODCAST_0003_0002.wav"), np.zeros(0, dtype=np.float32), 16_000)
    write_audio(audios / "MSP-PODCAST_0003_0003.wav", np.zeros(16_000, dtype=np.float32))
    for stem in ("MSP-PODCAST_0003_0001", "MSP-PODCAST_0003_0002", "MSP-PODCAST_0003_0003"):
        (root / "Transcripts" / f"{stem}.txt").write_text("words were said", encoding="utf-8")
    pretrain = PretrainParams(corpus={"name": "msp_podcast", "path": root})
    transcribe_corpus(pretrain, AsrParams(backend="provided"), tmp_path / "out", tmp_path / "rep")
    table = pd.read_csv(tmp_path / "out" / "msp_podcast.csv", keep_default_na=False)
    excluded = pd.read_csv(tmp_path / "out" / "msp_podcast_excluded.csv", keep_default_na=False)
    assert table["item_id"].tolist() == ["MSP-PODCAST_0001_0001"]
    assert table["source"].tolist() == ["provided"]
    reason = dict(zip(excluded["item_id"], excluded["reason"]))
    assert reason["MSP-PODCAST_0003_0001"].startswith("unreadable: ")
    assert reason["MSP-PODCAST_0003_0002"].startswith(("empty: ", "unreadable: "))
    assert reason["MSP-PODCAST_0003_0003"] == "silent: all samples are zero"
    assert reason["MSP-PODCAST_0001_0002"] == "no transcript (asr.backend: provided)"
    assert reason["MSP-PODCAST_0002_0001"].startswith("transcript not UTF-8: ")
    # every audio file is either a transcript row or an exclusion
    audio = {p.stem for p in audios.iterdir() if p.suffix in (".wav", ".flac")}
    assert audio == set(table["item_id"]) | (set(excluded["item_id"]) & audio)
    # the row's hash and duration are the file's
    import hashlib
    path = audios / "MSP-PODCAST_0001_0001.wav"
    assert table["audio_sha256"].iloc[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert table["duration_s"].iloc[0] == pytest.approx(sf.info(str(path)).duration, abs=1e-3)


def test_demo_podcast_is_read_whole():
    items, excluded = read_unlabelled("demo", None)
    stems = sorted(p.stem for p in (REPO / "demo" / "podcast" / "Audios").glob("*.ogg"))
    assert items["item_id"].tolist() == stems and len(stems) > 100
    assert (items["transcript"] != "").all() and (items["transcript_error"] == "").all()
    assert excluded["reason"].tolist() == ["labels ignored: the corpus is treated as unlabelled"]
