"""Whisper transcription with a tiny random Whisper loaded through from_pretrained: decoding checked against a
hand-written greedy loop, long audio cut at quiet points, batches equal single decodes, and the transcript store
(each audio decoded once per model fingerprint)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from melt.pretrain.params import AsrParams, PretrainParams
from melt.pretrain.transcribe import transcribe_corpus
from melt.pretrain.whisper import Decoding, WhisperTranscriber, load_whisper, split_chunks
from pretrain_helpers import tiny_whisper, tone, write_audio

SR = 16_000


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory) -> Path:
    return tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny")


@pytest.fixture(scope="module")
def transcriber(whisper_dir):
    model, processor = load_whisper(str(whisper_dir), None, "cpu", torch.float32)
    return WhisperTranscriber(model, processor, Decoding("en", 12, 1, 30.0))


@torch.inference_mode()
def manual_greedy(transcriber, wave: np.ndarray, steps: int) -> tuple[str, float, int]:
    """Greedy decoding written out: prompt <|startoftranscript|><|en|><|transcribe|><|notimestamps|>, end-of-text
    suppressed at the first step (begin_suppress_tokens), argmax until end-of-text; mean log-softmax of the choices."""
    model, proc = transcriber.model, transcriber.processor
    tok = proc.tokenizer
    feats = proc.feature_extractor([wave], sampling_rate=SR, return_tensors="pt").input_features
    enc = model.model.encoder(feats).last_hidden_state
    ids = [tok.convert_tokens_to_ids(t) for t in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")]
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    out, logprob = [], 0.0
    for step in range(steps):
        logits = model(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([ids + out])).logits[0, -1].clone()
        if step == 0:
            logits[eot] = -float("inf")
        lp = torch.log_softmax(logits.float(), -1)
        nxt = int(lp.argmax())
        out.append(nxt)
        logprob += float(lp[nxt])
        if nxt == eot:
            break
    return tok.decode(out, skip_special_tokens=True).strip(), logprob / len(out), len(out)


def test_decoding_equals_a_manual_greedy_loop(transcriber):
    waves = [tone(1.0, 200), tone(3.0, 500) + tone(3.0, 120)]
    got = transcriber.transcribe(waves, batch_size=2)
    for wave, rec in zip(waves, got):
        text, avg, n = manual_greedy(transcriber, wave, 12)
        assert rec["text"] == text
        assert rec["asr_tokens"] == n
        assert rec["asr_avg_logprob"] == pytest.approx(avg, abs=1e-3)
        assert rec["asr_chunks"] == 1


def test_batches_decode_like_single_files(transcriber):
    waves = [tone(s, f) for s, f in ((0.5, 150), (2.0, 300), (7.0, 700), (1.2, 90))]
    batched = transcriber.transcribe(waves, batch_size=3)
    single = [transcriber.transcribe([w], batch_size=1)[0] for w in waves]
    assert batched == single


def test_long_audio_is_cut_at_the_quietest_frame():
    wave = tone(70.0, 300)
    wave[int(29.0 * SR):int(29.1 * SR)] = 0.0     # a pause 1 s before the 30 s limit
    wave[int(57.5 * SR):int(57.6 * SR)] = 0.0     # and one 1.5 s before the next limit
    chunks = split_chunks(wave, 30.0)
    cuts = np.cumsum([len(c) for c in chunks])[:-1] / SR
    assert 29.0 < cuts[0] < 29.1 and 57.5 < cuts[1] < 57.6    # inside the pauses, not at the 30 s limits
    assert sum(len(c) for c in chunks) == len(wave) and len(chunks) == 3
    assert np.array_equal(np.concatenate(chunks), wave)
    assert all(len(c) <= 30 * SR for c in chunks)


def test_long_audio_joins_chunk_transcripts(transcriber):
    wave = np.concatenate([tone(25.0, 200), np.zeros(SR // 10, np.float32), tone(20.0, 400)])
    rec = transcriber.transcribe([wave], batch_size=4)[0]
    parts = [transcriber.transcribe([c], batch_size=1)[0] for c in split_chunks(wave, 30.0)]
    assert rec["asr_chunks"] == 2
    assert rec["text"] == " ".join(p["text"] for p in parts if p["text"])
    assert rec["asr_tokens"] == sum(p["asr_tokens"] for p in parts)


def folder_corpus(root: Path, n: int) -> Path:
    for i in range(n):
        write_audio(root / f"clip{i}.wav", tone(1.0 + i, 150 + 60 * i))
    return root


def run(tmp_path: Path, corpus: Path, asr: AsrParams, tag: str) -> tuple[pd.DataFrame, dict, bytes]:
    out = tmp_path / tag
    summary = transcribe_corpus(PretrainParams(corpus={"name": "folder", "path": corpus}), asr, out, out / "rep")
    csv = out / "folder.csv"
    return pd.read_csv(csv, keep_default_na=False), summary, csv.read_bytes()


def test_store_decodes_each_audio_once_per_model(tmp_path, whisper_dir):
    corpus = folder_corpus(tmp_path / "corpus", 3)
    asr = AsrParams(backend="whisper", model=str(whisper_dir), max_new_tokens=8, batch_size=2, device="cpu",
                    cache_dir=str(tmp_path / "store"))
    first, s1, bytes1 = run(tmp_path, corpus, asr, "a")
    assert (s1["transcribed"], s1["reused"]) == (3, 0)
    assert first["source"].tolist() == ["asr"] * 3 and (first["asr_tokens"] > 0).all()
    again, s2, bytes2 = run(tmp_path, corpus, asr, "b")
    assert (s2["transcribed"], s2["reused"]) == (0, 3)
    assert bytes2 == bytes1                        # nothing run-dependent in the output
    write_audio(corpus / "clip9.wav", tone(2.5, 610))
    _, s3, _ = run(tmp_path, corpus, asr, "c")
    assert (s3["transcribed"], s3["reused"]) == (1, 3)
    other = asr.model_copy(update={"max_new_tokens": 6})   # another decoding setting: another fingerprint
    _, s4, _ = run(tmp_path, corpus, other, "d")
    assert (s4["transcribed"], s4["reused"]) == (4, 0) and s4["model_key"] != s3["model_key"]
    records = list((tmp_path / "store").rglob("*.json"))
    assert len([r for r in records if r.name != "model.json"]) == 8


def test_provided_transcripts_are_kept_when_asked(tmp_path, whisper_dir):
    corpus = folder_corpus(tmp_path / "corpus", 2)
    (corpus / "clip0.txt").write_text("we said this\n", encoding="utf-8")
    asr = AsrParams(backend="whisper", model=str(whisper_dir), max_new_tokens=6, device="cpu", use_provided=True,
                    cache_dir=str(tmp_path / "store"))
    table, summary, _ = run(tmp_path, corpus, asr, "a")
    assert table[["item_id", "source"]].values.tolist() == [["clip0", "provided"], ["clip1", "asr"]]
    assert table["text"].iloc[0] == "we said this" and summary["transcribed"] == 1
