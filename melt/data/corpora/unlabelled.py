"""Unlabelled speech corpora for text pre-training: MSP-Podcast's release layout, any folder of audio, the demo.

`read_unlabelled(name, path, max_items)` → (items, excluded):
- items: one row per audio file kept, in sorted path order: item_id (path relative to the corpus root,
  without the extension), audio_path, transcript (the provided text, or empty), transcript_path (or empty),
  transcript_error (why a provided transcript could not be read, or empty);
- excluded: one row per file under the root that is not used, with its reason (`item_id, path, reason`).
Nothing is dropped silently. Audio content (unreadable, empty, silent) is checked later, when it is read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from melt.data.meld import CorpusError

# What soundfile (libsndfile) decodes; ffmpeg-only formats such as .mp4 are not accepted here.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
ITEM_COLUMNS = ["item_id", "audio_path", "transcript", "transcript_path", "transcript_error"]
EXCLUDED_COLUMNS = ["item_id", "path", "reason"]
DEMO_PATH = Path("demo/podcast")
LAYOUTS = ("demo", "msp_podcast", "folder")


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def read_transcript(path: Path) -> tuple[str, str]:
    """(text, error): UTF-8 text with whitespace collapsed; a file in another encoding or empty is an error."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return "", f"transcript unreadable: {path}: {err}"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return "", f"transcript not UTF-8: {path} (byte {err.start}: {data[err.start:err.start + 1]!r})"
    text = " ".join(text.split())
    if not text:
        return "", f"transcript empty: {path}"
    return text, ""


def _item(root: Path, audio: Path, transcript: Path | None) -> dict:
    text, error = read_transcript(transcript) if transcript is not None else ("", "")
    return {"item_id": audio.relative_to(root).with_suffix("").as_posix(), "audio_path": str(audio),
            "transcript": text, "transcript_path": str(transcript) if transcript is not None else "",
            "transcript_error": error}


def _excluded(root: Path, path: Path, reason: str) -> dict:
    return {"item_id": path.relative_to(root).with_suffix("").as_posix(), "path": str(path), "reason": reason}


def read_msp_podcast(root: Path) -> tuple[list[dict], list[dict]]:
    """MSP-Podcast: `Audios/<stem>.wav`, `Transcripts/<stem>.txt` when present. `Labels/` and anything else
    is listed as not used: the corpus is treated as unlabelled."""
    audio_dir, text_dir = root / "Audios", root / "Transcripts"
    if not audio_dir.is_dir():
        raise CorpusError(f"{root}: no Audios/ folder (expected MSP-Podcast's layout: Audios/, Transcripts/)")
    items, excluded, used_texts = [], [], set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        if path.parent == audio_dir and _is_audio(path):
            text = text_dir / f"{path.stem}.txt"
            items.append(_item(audio_dir, path, text if text.is_file() else None))
            used_texts.add(text)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.parent == audio_dir and _is_audio(path):
            continue
        if path in used_texts:
            continue
        if path.is_relative_to(root / "Labels"):
            reason = "labels ignored: the corpus is treated as unlabelled"
        elif path.parent == text_dir and path.suffix == ".txt":
            reason = "transcript without audio"
        elif path.parent == audio_dir:
            reason = f"not an audio file ({', '.join(AUDIO_EXTENSIONS)})"
        else:
            reason = "outside Audios/ and Transcripts/"
        excluded.append(_excluded(root, path, reason))
    return items, excluded


def read_audio_folder(root: Path) -> tuple[list[dict], list[dict]]:
    """Any folder: every audio file below it (recursive); `<stem>.txt` beside a file is its transcript."""
    items, excluded, used = [], [], set()
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        if _is_audio(path):
            text = path.with_suffix(".txt")
            items.append(_item(root, path, text if text.is_file() else None))
            used.update({path, text})
    for path in files:
        if path not in used:
            reason = "transcript without audio" if path.suffix == ".txt" else \
                f"not an audio file ({', '.join(AUDIO_EXTENSIONS)})"
            excluded.append(_excluded(root, path, reason))
    return items, excluded


READERS = {"demo": read_msp_podcast, "msp_podcast": read_msp_podcast, "folder": read_audio_folder}


def corpus_root(name: str, path: str | Path | None) -> Path:
    """The corpus folder; errors name the setting `pretrain.corpus.path`."""
    if name not in READERS:
        raise CorpusError(f"pretrain.corpus.name = {name!r}: unknown (known: {', '.join(READERS)})")
    if path is None:
        if name != "demo":
            raise CorpusError(f"pretrain.corpus.path is not set: point it at the {name} corpus folder")
        path = DEMO_PATH
    root = Path(path)
    if not root.is_dir():
        raise CorpusError(f"pretrain.corpus.path = {str(path)!r}: no such folder")
    return root


def read_unlabelled(name: str, path: str | Path | None, max_items: int | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    root = corpus_root(name, path)
    found, excluded = READERS[name](root)
    items, seen = [], set()
    for it in found:   # a.wav beside a.flac: one id, two files; the first in path order is used
        if it["item_id"] in seen:
            excluded.append({"item_id": it["item_id"], "path": it["audio_path"],
                             "reason": "duplicate item id (same name, another audio extension)"})
        else:
            seen.add(it["item_id"])
            items.append(it)
    if not items:
        raise CorpusError(f"pretrain.corpus.path = {str(root)!r}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) "
                          f"in the {name} layout")
    if max_items is not None and len(items) > max_items:
        # The first max_items in path order: a stable subset that grows with max_items.
        excluded += [{"item_id": it["item_id"], "path": it["audio_path"],
                      "reason": f"beyond pretrain.max_items ({max_items})"} for it in items[max_items:]]
        items = items[:max_items]
    return (pd.DataFrame(items, columns=ITEM_COLUMNS),
            pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS).sort_values("path", kind="stable", ignore_index=True))
