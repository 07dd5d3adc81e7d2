"""Audio I/O: find a row's file, read durations, load 16 kHz mono, convert MELD's .mp4."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from melt.io import TEMP_PREFIX, write_bytes

SAMPLE_RATE = 16_000
# Per-split folder names: ours first, then those of MELD.Raw.
SPLIT_FOLDERS = {
    "train": ("train", "train_splits"),
    "dev": ("dev", "dev_splits_complete"),
    "test": ("test", "output_repeated_splits_test"),
}
EXTENSIONS = (".wav", ".flac", ".mp4")


class AudioError(Exception):
    """A file that exists but cannot be read or converted."""


def split_audio_dir(audio_dir: Path, split: str) -> Path:
    """The folder holding one split's files; a clear error if the layout is not recognised."""
    for name in SPLIT_FOLDERS[split]:
        if (audio_dir / name).is_dir():
            return audio_dir / name
    expected = " or ".join(str(audio_dir / n) for n in SPLIT_FOLDERS[split])
    raise FileNotFoundError(f"no audio folder for split {split!r}: expected {expected}")


def find_audio(folder: Path, stem: str) -> Path | None:
    for ext in EXTENSIONS:
        path = folder / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def audio_duration(path: Path) -> float:
    try:
        info = sf.info(str(path))
    except Exception as err:  # soundfile raises several types for bad files
        raise AudioError(f"unreadable audio {path}: {err}") from None
    if info.frames == 0 or info.samplerate <= 0:
        raise AudioError(f"empty audio {path}")
    return info.frames / info.samplerate


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 at ``sample_rate`` (soundfile + soxr: no torchaudio, see DESIGN.md)."""
    try:
        signal, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(f"unreadable audio {path}: {err}") from None
    mono = signal.mean(axis=1)
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate).astype(np.float32)
    return mono


def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # ships its own ffmpeg binary

    return imageio_ffmpeg.get_ffmpeg_exe()


def convert_to_wav(src: Path, dst: Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """Decode any ffmpeg-readable file (MELD's .mp4) to 16-bit mono WAV.

    ffmpeg writes a `.melt-tmp-*` file (dvcignored) that melt.io then writes atomically to `dst`: a killed run
    never leaves a half WAV under its final name.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f"{TEMP_PREFIX}{dst.name}.ffmpeg.wav")
    cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
           "-vn", "-ac", "1", "-ar", str(sample_rate), "-acodec", "pcm_s16le", "-fflags", "+bitexact",
           "-flags:a", "+bitexact", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise AudioError(f"ffmpeg could not decode {src}: {msg}")
        write_bytes(dst, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)
    return dst
