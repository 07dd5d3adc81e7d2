"""The audio of a request: the clip exactly as sent (16 kHz mono 16-bit WAV, or MP3), its sha256, its exclusions.

The `prompts` stage encodes each row's clip once, as it will be sent, and records its path, durations and the
sha256 of those bytes, never the bytes: no base64 in `data/prompts`, the answer store or the snapshot. The
body holds a placeholder content part `{"type": "input_audio", "input_audio": {"format", "sha256"}}`; at send
time `materialise` encodes the clip again, checks the sha256 (a file changed since `prompts` is an exclusion)
and puts the base64 in its place, the OpenAI-compatible `input_audio` part. Missing, unreadable, empty, silent
or too long clips are `ClipExcluded` with the reason: the audio annotators record it, text annotators are not
concerned.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
SILENCE_DBFS = -80.0   # a clip whose peak stays below this carries nothing to hear
_SILENCE_PEAK = 10 ** (SILENCE_DBFS / 20)
_MP3_BITRATE = "64k"


class ClipExcluded(Exception):
    """A clip that cannot be sent; str(err) is the recorded reason, `kind: detail`."""


@dataclass(frozen=True)
class Clip:
    data: bytes              # the bytes sent
    sha256: str
    seconds: float           # duration sent
    source_seconds: float    # duration of the file
    trimmed: bool


def _ffmpeg(args: list[str], data: bytes | None = None) -> bytes:
    from melt.data.audio import ffmpeg_exe   # imageio-ffmpeg's own binary

    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", *args], input=data, capture_output=True)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines() or ["unknown error"]
        raise ClipExcluded(f"unreadable: ffmpeg: {lines[-1]}")
    return proc.stdout


def _read_mono(path: Path) -> tuple[np.ndarray, int]:
    """Float mono samples and rate: soundfile for WAV/FLAC/MP3, ffmpeg for containers (MELD's .mp4)."""
    try:
        signal, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:   # soundfile raises several types; a container it cannot open goes through ffmpeg
        wav = _ffmpeg(["-i", str(path), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "wav", "-"])
        try:
            signal, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        except Exception as err:
            raise ClipExcluded(f"unreadable: {path.name}: {err}") from None
    return signal.mean(axis=1), sr


def _encode(samples: np.ndarray, audio_format: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    wav = buf.getvalue()
    if audio_format == "wav":
        return wav
    return _ffmpeg(["-f", "wav", "-i", "-", "-codec:a", "libmp3lame", "-b:a", _MP3_BITRATE, "-map_metadata", "-1",
                    "-fflags", "+bitexact", "-flags:a", "+bitexact", "-id3v2_version", "0", "-f", "mp3", "-"], wav)


def encode_clip(path: str | Path | None, audio_format: str = "wav", max_audio_s: float = 30.0,
                too_long: str = "exclude") -> Clip:
    """The bytes to send for the clip at `path`; raises ClipExcluded with the reason."""
    if path is None or str(path).strip() == "":
        raise ClipExcluded("missing: the row has no audio file (prepared audio_path is empty)")
    path = Path(path)
    if not path.is_file():
        raise ClipExcluded(f"missing: {path} not found")
    mono, sr = _read_mono(path)
    if mono.size == 0 or sr <= 0:
        raise ClipExcluded(f"empty: {path.name} has no samples")
    if sr != SAMPLE_RATE:
        mono = soxr.resample(mono, sr, SAMPLE_RATE).astype(np.float32)
    source_seconds = mono.size / SAMPLE_RATE
    peak = float(np.max(np.abs(mono)))
    if peak < _SILENCE_PEAK:
        raise ClipExcluded(f"silent: {path.name} peaks below {SILENCE_DBFS:g} dBFS")
    trimmed = source_seconds > max_audio_s
    if trimmed and too_long == "exclude":
        raise ClipExcluded(f"too long: {source_seconds:.1f} s > max_audio_s {max_audio_s:g} (too_long: exclude)")
    if trimmed:
        mono = mono[: int(round(max_audio_s * SAMPLE_RATE))]
    data = _encode(np.clip(mono, -1.0, 1.0), audio_format)
    return Clip(data, hashlib.sha256(data).hexdigest(), round(mono.size / SAMPLE_RATE, 6),
                round(source_seconds, 6), trimmed)


def placeholder_part(audio_format: str, sha256: str) -> dict:
    """The content part a prompt record holds: what will be sent, named by its hash."""
    return {"type": "input_audio", "input_audio": {"format": audio_format, "sha256": sha256}}


def audio_record(path: str, clip: Clip, settings) -> dict:
    """The `audio` field of a prompt record: enough to make the same bytes again at send time."""
    return {"path": path, "sha256": clip.sha256, "format": settings.audio_format, "seconds": clip.seconds,
            "source_seconds": clip.source_seconds, "trimmed": clip.trimmed, "max_audio_s": settings.max_audio_s,
            "too_long": settings.too_long}


class AudioChanged(RuntimeError):
    """The clip no longer gives the bytes the prompt was keyed by (file edited, replaced or removed)."""


def materialise(prompt: dict, body: dict) -> dict:
    """The body to send: every placeholder audio part replaced by the clip's base64 (checked against its sha256)."""
    audio = prompt.get("audio")
    if not audio:
        return body
    try:
        clip = encode_clip(audio["path"], audio["format"], audio["max_audio_s"], audio["too_long"])
    except ClipExcluded as err:
        raise AudioChanged(f"audio changed since the prompts stage: {err}") from None
    if clip.sha256 != audio["sha256"]:
        raise AudioChanged(f"audio changed since the prompts stage: {audio['path']} now encodes to sha256 "
                           f"{clip.sha256[:12]}…, the request was keyed by {audio['sha256'][:12]}… "
                           f"(run `dvc repro -f prompts`)")
    encoded = base64.b64encode(clip.data).decode("ascii")
    messages = []
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, list):
            content = [{"type": "input_audio", "input_audio": {"data": encoded, "format": p["input_audio"]["format"]}}
                       if p.get("type") == "input_audio" else p for p in content]
        messages.append({**m, "content": content})
    return {**body, "messages": messages}


def decode_part(body: dict) -> tuple[np.ndarray, int] | None:
    """The samples of the first `input_audio` part of a body as sent (base64 → WAV/MP3 → float mono), or None."""
    for m in body["messages"]:
        if isinstance(m["content"], list):
            for p in m["content"]:
                if p.get("type") == "input_audio" and "data" in p["input_audio"]:
                    signal, sr = sf.read(io.BytesIO(base64.b64decode(p["input_audio"]["data"])), dtype="float32",
                                         always_2d=True)
                    return signal.mean(axis=1), sr
    return None
