"""A panel of text, audio and text+audio annotators against the loopback OpenAI-compatible server, which decodes the
audio it receives (base64 → WAV, 16 kHz mono, else 400) and answers from the sound: RMS level above a threshold →
anger, else sadness. Each row's expected label is computed here from the row's own file (soundfile + numpy, no
product code); text requests are answered from their text, by the server's own rule, recomputed here too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from annotate_helpers import TEMPLATES, prepared_rows
from llm_server import LABELS, LOUD_DBFS, LLMServer
from melt.annotate.params import AnnotateParams, AnnotatorParams, PromptsParams
from melt.annotate.requests import write_prompts
from melt.annotate.run import annotate

REPO = Path(__file__).resolve().parents[1]
N = 16


def demo_rows(root: Path) -> tuple[Path, pd.DataFrame]:
    """root/prepared: N rows whose audio_path is a demo clip (8 kHz WAV, resampled by the product to 16 kHz)."""
    clips = sorted((REPO / "demo/sitcom/audio/train").glob("*.wav"))[::7][:N]
    df = prepared_rows(N).assign(audio_path=[str(p) for p in clips])
    (root / "prepared").mkdir(parents=True)
    df.to_csv(root / "prepared/train.csv", index=False)
    for split in ("dev", "test"):
        df.iloc[:0].to_csv(root / f"prepared/{split}.csv", index=False)
    return root / "prepared", df


def rule_on_file(path: str) -> str:
    """The server's rule, on the file as it is on disk (its own rate): RMS in dBFS above the threshold → anger."""
    samples, _ = sf.read(path, dtype="float64")
    level = 20 * np.log10(np.sqrt(np.mean(samples ** 2)))
    return "anger" if level > LOUD_DBFS else "sadness"


def text_rule(utterance: str, seed: int) -> str:
    return LABELS[hashlib.sha256(f"{utterance}|{seed}".encode()).digest()[0] % len(LABELS)].lower()


def panel(srv, names=("text", "audio", "both")) -> AnnotateParams:
    inputs = {"text": "text", "audio": "audio", "both": "text+audio"}
    return AnnotateParams(annotators={n: AnnotatorParams(backend="openai", base_url=srv.base_url, model="omni",
                                                         input=inputs[n], concurrency=4, rpm=60_000, tpm=10_000_000,
                                                         timeout_s=10, max_retries=2, backoff_base_s=0.01)
                                      for n in names})


def run_panel(root: Path, params: AnnotateParams, prepared: Path) -> dict:
    params = params.model_copy(update={"store": str(root / "store")})
    write_prompts(prepared, root / "prompts", PromptsParams(), params, templates_dir=TEMPLATES)
    return annotate(params, root / "prompts", root / "ann", root / "snapshot", root / "report.json",
                    root / "metrics.json", progress=False)


def records(root: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (root / f"ann/{name}/train.jsonl").read_text().splitlines()]


def store_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((root / "store").glob("*.jsonl")))


def test_audio_annotators_answer_from_each_rows_own_sound(tmp_path):
    prepared, rows = demo_rows(tmp_path)
    expected = [rule_on_file(p) for p in rows["audio_path"]]
    assert set(expected) == {"anger", "sadness"}            # both sides of the threshold are exercised
    with LLMServer() as srv:
        run_panel(tmp_path, panel(srv, ("text",)), prepared)
        text_only = store_bytes(tmp_path)
        assert srv.chat_requests == N and srv.audio_log == []
        out = run_panel(tmp_path, panel(srv), prepared)
        assert srv.chat_requests == 3 * N                   # the text annotator's answers came from the store
        log = list(srv.audio_log)
        first_run = out["metrics"]
        labels = {n: [r["label"] for r in records(tmp_path, n)] for n in ("text", "audio", "both")}
        again = run_panel(tmp_path, panel(srv), prepared)["metrics"]
        assert srv.chat_requests == 3 * N                   # a re-run sends nothing
        fewer = run_panel(tmp_path, panel(srv, ("audio", "both")), prepared)
        assert srv.chat_requests == 3 * N                   # removing an annotator re-uses the others' answers
    assert labels["audio"] == expected and labels["both"] == expected
    assert labels["text"] == [text_rule(u, 0) for u in rows["Utterance"]]
    # what the server received: 16 kHz mono 16-bit WAV of each clip (it refuses anything else), full length
    assert len(log) == 2 * N
    durations = {round(sf.info(p).duration, 3) for p in rows["audio_path"]}
    assert {round(a["seconds"], 3) for a in log} == durations
    both = [a for a in log if "said:" in a["text"]]
    assert len(both) == N and all(a["parts"] == ["text", "input_audio"] for a in log)
    assert sorted(a["text"].rsplit("said: ", 1)[1] for a in both) == sorted(rows["Utterance"])
    # the store grew by 2N answers, not by the audio: far fewer bytes than were sent, no base64 of any clip
    sent = sum(a["bytes"] for a in log)
    store = store_bytes(tmp_path)
    assert len(store.splitlines()) == 3 * N and len(store) - len(text_only) < sent / 20
    assert b"input_audio" not in store and b"UklGR" not in store    # no part, no base64 of a RIFF header
    assert first_run["requests_sent"] == 2 * N and first_run["cache_hits"] == N
    assert again["requests_sent"] == 0 and again["cache_hits"] == 3 * N
    assert fewer["metrics"]["requests_sent"] == 0 and list(fewer["report"]["annotators"]) == ["audio", "both"]
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["audio", "both", "panel.json"]
    assert fewer["report"]["answers"] == 2 * N               # the snapshot holds the panel's answers only


def test_mp3_clips_reach_the_server_as_16k_mono_mp3(tmp_path):
    prepared, rows = demo_rows(tmp_path)
    with LLMServer() as srv:
        params = AnnotateParams(annotators={"mp3": AnnotatorParams(
            backend="openai", base_url=srv.base_url, input="audio", audio_format="mp3", concurrency=4, rpm=60_000,
            max_retries=1)})
        out = run_panel(tmp_path, params, prepared)
        log = list(srv.audio_log)
    assert out["report"]["status"]["ok"] == N and len(log) == N                # the server decoded every one
    assert all(a["parts"] == ["text", "input_audio"] for a in log)
    sent = json.loads((tmp_path / "prompts/mp3/train.jsonl").read_text().splitlines()[0])
    assert sent["body"]["messages"][0]["content"][1]["input_audio"]["format"] == "mp3"
    assert {r["label"] for r in records(tmp_path, "mp3")} <= {"anger", "sadness"}


def test_each_annotator_reads_its_key_from_its_own_variable(tmp_path, monkeypatch):
    prepared, _ = demo_rows(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-text-annotator-0000")
    monkeypatch.setenv("QWEN_KEY", "sk-audio-annotator-1111")
    with LLMServer() as srv:
        params = panel(srv, ("text", "audio"))
        params = params.model_copy(update={"annotators": {
            "text": params.annotators["text"],
            "audio": params.annotators["audio"].model_copy(update={"api_key_env": "QWEN_KEY"})}})
        run_panel(tmp_path, params, prepared)
        assert srv.authorizations == {"Bearer sk-text-annotator-0000", "Bearer sk-audio-annotator-1111"}
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"annotator-0000" not in written and b"annotator-1111" not in written   # nowhere on disk
    assert b'"api_key_env"' not in (tmp_path / "prompts/panel.json").read_bytes()  # not even the name is needed
