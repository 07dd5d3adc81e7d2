"""Audio requests (issue 15 §1–§2): the clip as sent, its exclusions, its key, its sha256 check at send time, its
cost — each checked against soundfile/hashlib on the same bytes or a hand computation."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from annotate_helpers import TEMPLATES, prepared_rows, server_params, write_prepared
from melt.annotate.audio import ClipExcluded, encode_clip, materialise
from melt.annotate.params import AnnotateParams, AnnotatorParams, PromptsParams
from melt.annotate.requests import iter_prompts, write_annotator_prompts, write_prompts
from melt.annotate.run import annotate, annotate_single
from melt.annotate.store import AnswerStore

REPO = Path(__file__).resolve().parents[1]


def tone(path: Path, seconds: float, sr: int = 8000, channels: int = 1, amplitude: float = 0.3) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    wave = amplitude * np.sin(2 * np.pi * 220 * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, sr, subtype="PCM_16")
    return path


def test_a_clip_is_sent_as_16k_mono_16_bit_and_named_by_its_bytes(tmp_path):
    src = tone(tmp_path / "stereo8k.wav", 1.5, sr=8000, channels=2)
    clip = encode_clip(src)
    info = sf.info(io.BytesIO(clip.data))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
    assert info.frames == 24000 and clip.seconds == clip.source_seconds == 1.5 and not clip.trimmed
    assert clip.sha256 == hashlib.sha256(clip.data).hexdigest()
    assert encode_clip(src).data == clip.data                                  # the same bytes every time
    mp3 = encode_clip(src, audio_format="mp3")
    info = sf.info(io.BytesIO(mp3.data))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "MPEG_LAYER_III")
    assert mp3.data == encode_clip(src, audio_format="mp3").data and mp3.sha256 != clip.sha256


def test_long_missing_corrupt_silent_and_empty_clips_are_excluded_with_reasons(tmp_path):
    long = tone(tmp_path / "long.wav", 31.0)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(8000), 8000, subtype="PCM_16")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 8000, subtype="PCM_16")
    cases = {str(long): "too long: 31.0 s > max_audio_s 30 (too_long: exclude)",
             str(tmp_path / "gone.wav"): f"missing: {tmp_path / 'gone.wav'} not found",
             "": "missing: the row has no audio file", str(corrupt): "unreadable:",
             str(silent): "silent: silent.wav peaks below -80 dBFS", str(empty): "empty: empty.wav has no samples"}
    for path, reason in cases.items():
        with pytest.raises(ClipExcluded) as err:
            encode_clip(path)
        assert str(err.value).startswith(reason), (path, str(err.value))
    trimmed = encode_clip(long, too_long="trim")
    assert trimmed.trimmed and trimmed.seconds == 30.0 and trimmed.source_seconds == 31.0
    assert sf.info(io.BytesIO(trimmed.data)).frames == 30 * 16000


def _panel_rows(tmp_path: Path) -> tuple[Path, list[str]]:
    """Prepared rows: two real demo clips, then a long, a missing and a silent one."""
    demo = sorted((REPO / "demo/sitcom/audio/train").glob("*.wav"))[:2]
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000), 16000, subtype="PCM_16")
    paths = [str(p) for p in demo] + [str(tone(tmp_path / "long.wav", 31.0)), str(tmp_path / "gone.wav"), str(silent)]
    prepared = write_prepared(tmp_path, len(paths))
    df = pd.read_csv(prepared / "train.csv")
    df["audio_path"] = paths
    df.to_csv(prepared / "train.csv", index=False)
    return prepared, paths


def test_the_text_annotator_labels_rows_whose_clip_the_audio_annotator_excludes(tmp_path):
    prepared, paths = _panel_rows(tmp_path)
    params = AnnotateParams(store=str(tmp_path / "store"))   # the demo panel: text and audio heuristics, offline
    write_prompts(prepared, tmp_path / "prompts", PromptsParams(), params, templates_dir=TEMPLATES)
    out = annotate(params, tmp_path / "prompts", tmp_path / "ann", tmp_path / "snap", tmp_path / "r.json",
                   tmp_path / "m.json", progress=False)
    text = [json.loads(line) for line in (tmp_path / "ann/text_heuristic/train.jsonl").read_text().splitlines()]
    audio = [json.loads(line) for line in (tmp_path / "ann/audio_heuristic/train.jsonl").read_text().splitlines()]
    assert [r["status"] for r in text] == ["ok"] * 5
    assert [r["status"] for r in audio] == ["ok", "ok", "excluded", "excluded", "excluded"]
    assert [r["error"].split(":")[0] for r in audio[2:]] == ["too long", "missing", "silent"]
    assert all(r["key"] is None and r["label"] is None for r in audio[2:])
    report = out["report"]["annotators"]["audio_heuristic"]
    assert report["status"] == {"ok": 2, "invalid": 0, "failed": 0, "excluded": 3}
    assert out["metrics"]["requests"] == 10 and out["metrics"]["failed"] == 3
    # the store and the snapshot hold answers and the clips' hashes in the keys, never the audio
    store = b"".join(p.read_bytes() for p in (tmp_path / "store").glob("*.jsonl"))
    clip = encode_clip(paths[0])
    assert len(AnswerStore(tmp_path / "store")) == 5 + 2
    assert base64.b64encode(clip.data)[:64] not in store and b"input_audio" not in store
    requests = (tmp_path / "prompts/audio_heuristic/train.jsonl").read_text()
    assert clip.sha256 in requests and base64.b64encode(clip.data)[:64].decode() not in requests


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_text_keys_are_todays_and_audio_keys_add_modality_and_the_clips_hash(tmp_path):
    """The key material, computed here by hand: a text request's is exactly what it was before audio existed."""
    prepared, paths = _panel_rows(tmp_path)
    params = AnnotateParams(annotators={"t": AnnotatorParams(backend="openai"),
                                        "a": AnnotatorParams(backend="openai", input="audio"),
                                        "ta": AnnotatorParams(backend="openai", input="text+audio")})
    write_prompts(prepared, tmp_path / "prompts", PromptsParams(), params, templates_dir=TEMPLATES)
    for name in ("t", "a", "ta"):
        for rec in iter_prompts(tmp_path / "prompts" / name, ("train",)):
            if rec.get("excluded"):
                continue
            body = rec["body"]
            material = {"provider": "api.openai.com", "model": "gpt-4o-2024-08-06", "messages": body["messages"],
                        "temperature": 1.0, "top_p": 1.0, "max_tokens": 400, "response_format": {"type": "json_object"},
                        "seed": 0, "sample": 0}
            if name != "t":
                sha = hashlib.sha256(encode_clip(paths[rec["utterance_id"] + 3 * rec["dialogue_id"]]).data).hexdigest()
                material.update(input=rec["input"], audio_sha256=sha)
                parts = body["messages"][0]["content"]
                assert [p["type"] for p in parts] == ["text", "input_audio"]
                assert parts[1]["input_audio"] == {"format": "wav", "sha256": sha}   # never the bytes
                assert ("said:" in parts[0]["text"]) == (name == "ta")               # the transcript only with text
            else:
                assert isinstance(body["messages"][0]["content"], str)
            assert rec["key"] == hashlib.sha256(canonical(material).encode()).hexdigest()
    assert (tmp_path / "prompts/panel.json").is_file()
    keys = {n: [r["key"] for r in iter_prompts(tmp_path / "prompts" / n, ("train",))] for n in ("t", "a", "ta")}
    assert len(set(keys["a"][:2]) | set(keys["ta"][:2]) | set(keys["t"])) == 9


def test_a_clip_changed_after_the_prompts_stage_is_excluded_not_sent(tmp_path):
    clip = tone(tmp_path / "clip.wav", 1.0, amplitude=0.5)
    prepared = write_prepared(tmp_path, 1)
    df = pd.read_csv(prepared / "train.csv").assign(audio_path=str(clip))
    df.to_csv(prepared / "train.csv", index=False)
    settings = AnnotateParams(store=str(tmp_path / "store")).settings("audio_heuristic")
    write_annotator_prompts(prepared, tmp_path / "prompts", PromptsParams(), settings, templates_dir=TEMPLATES)
    prompt = next(iter_prompts(tmp_path / "prompts"))
    sent = materialise(prompt, prompt["body"])["messages"][0]["content"][1]["input_audio"]
    assert base64.b64decode(sent["data"]) == encode_clip(clip).data and sent["format"] == "wav"
    tone(clip, 1.0, amplitude=0.1)                      # the file is replaced after `prompts`
    out = annotate_single(settings, tmp_path / "prompts", tmp_path / "out", tmp_path / "snap", tmp_path / "r.json",
                          tmp_path / "m.json", progress=False)
    rec = json.loads((tmp_path / "out/train.jsonl").read_text())
    assert rec["status"] == "excluded" and "audio changed since the prompts stage" in rec["error"]
    assert out["metrics"]["requests_sent"] == 0 and len(AnswerStore(tmp_path / "store")) == 0


def test_dry_run_counts_audio_tokens_at_their_price(tmp_path):
    clips = [tone(tmp_path / f"c{i}.wav", s) for i, s in enumerate((1.04, 2.5, 0.96))]
    prepared = write_prepared(tmp_path, 3)
    df = pd.read_csv(prepared / "train.csv").assign(audio_path=[str(c) for c in clips])
    df.to_csv(prepared / "train.csv", index=False)
    settings = server_params(type("S", (), {"base_url": "http://127.0.0.1:9/v1"})(), input="text+audio",
                             dry_run=True, audio_tokens_per_s=25, audio_price_per_1m=10.0)
    write_annotator_prompts(prepared, tmp_path / "prompts", PromptsParams(), settings, templates_dir=TEMPLATES)
    out = annotate_single(settings.model_copy(update={"store": str(tmp_path / "store")}), tmp_path / "prompts",
                          tmp_path / "out", tmp_path / "snap", tmp_path / "r.json", tmp_path / "m.json", progress=False)
    report = out["report"]
    assert report["estimated_audio_tokens"] == 26 + 62 + 24            # round(s × 25) per clip
    texts = [r["body"]["messages"][0]["content"][0]["text"] for r in iter_prompts(tmp_path / "prompts")]
    text_tokens = sum(len(t) // 4 + 4 for t in texts)
    assert report["estimated_prompt_tokens"] == text_tokens
    expected = (text_tokens * 2.5 + 3 * 120 * 10.0) / 1e6 + 112 * 10.0 / 1e6   # gpt-4o text prices + audio
    assert report["estimated_cost_usd"] == round(expected, 4)
    assert (tmp_path / "out/train.jsonl").read_text() == ""
