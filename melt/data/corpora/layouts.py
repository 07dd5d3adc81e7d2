"""Readers of the standard release layouts. Each yields one row per audio file (or per labelled turn).

Row keys: item_id (unique within the corpus), audio_path, speaker, source_label; or, for a file that does
not fit the layout, source_label None and a `reason`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path


def _wavs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())


def _row(root: Path, path: Path, speaker: str | None, label: str | None, reason: str | None = None) -> dict:
    return {"item_id": path.relative_to(root).as_posix(), "audio_path": str(path), "speaker": speaker,
            "source_label": label, "reason": reason}


def read_tess(root: Path) -> Iterator[dict]:
    """TESS: `<SPK>_<emotion>/<SPK>_<word>_<emotion>.wav`; the emotion is the file name's last field."""
    for path in _wavs(root):
        parts = path.stem.split("_")
        if len(parts) < 3:
            yield _row(root, path, None, None, "file name not <speaker>_<word>_<emotion>.wav")
            continue
        label = "_".join(parts[2:]).lower()  # pleasant_surprise spellings keep their underscore
        yield _row(root, path, parts[0].upper(), label)


_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def read_ravdess(root: Path) -> Iterator[dict]:
    """RAVDESS: `Actor_XX/MM-VV-EE-II-SS-RR-AA.wav` (modality, vocal channel, emotion, ..., actor)."""
    for path in _wavs(root):
        m = _RAVDESS.match(path.stem)
        if not m:
            yield _row(root, path, None, None, "file name not MM-VV-EE-II-SS-RR-AA.wav")
            continue
        speaker = f"actor_{m.group(7)}"
        if m.group(2) != "01":  # 02 = song: the paper evaluates speech
            yield _row(root, path, speaker, None, "song (vocal channel 02): speech only")
            continue
        yield _row(root, path, speaker, m.group(3))


def read_cremad(root: Path) -> Iterator[dict]:
    """CREMA-D: `AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav`."""
    for path in _wavs(root):
        parts = path.stem.split("_")
        if len(parts) != 4:
            yield _row(root, path, None, None, "file name not <actor>_<sentence>_<emotion>_<level>.wav")
            continue
        yield _row(root, path, parts[0], parts[2].upper())


_IEMOCAP_TURN = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t\[")


def read_iemocap(root: Path) -> Iterator[dict]:
    """IEMOCAP_full_release: labels in `SessionN/dialog/EmoEvaluation/<dialog>.txt` (majority label per turn),
    audio in `SessionN/sentences/wav/<dialog>/<turn>.wav`."""
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not sessions:
        raise FileNotFoundError(f"{root}: no Session*/ folders (expected the IEMOCAP_full_release layout)")
    for session in sessions:
        for txt in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            dialog = txt.stem
            for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _IEMOCAP_TURN.match(line)
                if not m:
                    continue  # per-annotator lines (C-E1:, A-E2:) and headers
                turn, label = m.groups()
                wav = session / "sentences" / "wav" / dialog / f"{turn}.wav"
                speaker = f"{turn[:5]}{turn.split('_')[-1][0]}"  # Ses01F: session + speaker gender
                if not wav.is_file():
                    yield {"item_id": turn, "audio_path": str(wav), "speaker": speaker, "source_label": None,
                           "reason": f"audio missing: {wav} (labelled in {txt})"}
                    continue
                yield {"item_id": turn, "audio_path": str(wav), "speaker": speaker, "source_label": label,
                       "reason": None}
