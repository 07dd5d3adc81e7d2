"""Entry point of the `transcribe` stage: unlabelled corpus → data/transcripts/{corpus}.csv (+ _excluded.csv).

Every file is read and checked (unreadable, empty, silent → excluded with the reason). Text comes from the
corpus (`asr.backend: provided`) or from Whisper through the transcript store, so only audio never
transcribed by this model fingerprint is decoded. The CSV holds nothing run-dependent: how many
transcripts were decoded or reused, and how fast, go to the returned summary (printed by the stage).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from melt.data.corpora.unlabelled import EXCLUDED_COLUMNS, read_unlabelled
from melt.io import write_csv, write_json
from melt.pretrain.audio_items import inspect_audio
from melt.pretrain.params import AsrParams, PretrainParams
from melt.repo import shared_path

COLUMNS = ["item_id", "audio_path", "audio_sha256", "duration_s", "text", "source",
           "asr_avg_logprob", "asr_tokens", "asr_chunks"]


def _whisper(asr: AsrParams):
    from melt.pretrain.whisper import (Decoding, WhisperTranscriber, fingerprint, load_whisper, resolve_device,
                                       resolve_dtype)

    device = resolve_device(asr.device)
    model, processor = load_whisper(asr.model, asr.revision, device, resolve_dtype(asr.dtype, device))
    decoding = Decoding(asr.language, asr.max_new_tokens, asr.num_beams, asr.chunk_s)
    return WhisperTranscriber(model, processor, decoding), fingerprint(asr.model, asr.revision, model, decoding)


def transcribe_corpus(pretrain: PretrainParams, asr: AsrParams, out_dir: str | Path = "data/transcripts",
                      report_dir: str | Path = "reports/transcribe", progress: bool = False) -> dict:
    name = pretrain.corpus.name
    items, excluded = read_unlabelled(name, pretrain.corpus.path, pretrain.max_items)
    exclusions = excluded.to_dict("records")
    rows, pending = [], []   # pending: (row, signal) still to transcribe
    use_asr = asr.backend == "whisper"
    for it in tqdm(items.to_dict("records"), desc="audio", unit="file", disable=not progress):
        has_text = bool(it["transcript"])
        needs_asr = use_asr and not (asr.use_provided and has_text)
        audio = inspect_audio(it["audio_path"], keep_signal=needs_asr)
        reason = audio.reason
        if reason is None and not needs_asr and not has_text:
            reason = it["transcript_error"] or "no transcript (asr.backend: provided)"
        if reason is not None:
            exclusions.append({"item_id": it["item_id"], "path": it["audio_path"], "reason": reason})
            continue
        row = {"item_id": it["item_id"], "audio_path": it["audio_path"], "audio_sha256": audio.sha256,
               "duration_s": audio.duration_s, "text": it["transcript"], "source": "provided",
               "asr_avg_logprob": None, "asr_tokens": None, "asr_chunks": None}
        rows.append(row)
        if needs_asr:
            pending.append((row, audio.signal))

    summary = {"corpus": name, "items": len(rows), "excluded": len(exclusions), "transcribed": 0, "reused": 0,
               "audio_s_transcribed": 0.0, "asr_seconds": 0.0}
    if pending:
        transcriber, fp = _whisper(asr)
        from melt.pretrain.transcript_store import TranscriptStore

        store = TranscriptStore(shared_path(asr.cache_dir, "cache/transcripts"), fp)
        todo = {}
        for row, signal in pending:
            cached = store.get(row["audio_sha256"])
            if cached is None:
                todo.setdefault(row["audio_sha256"], signal)   # the same audio twice is decoded once
            else:
                summary["reused"] += 1
        if todo:
            started = time.monotonic()
            bar = tqdm(desc="whisper", unit="chunk", disable=not progress)
            shas = list(todo)
            results = transcriber.transcribe([todo[s] for s in shas], asr.batch_size, on_batch=bar.update)
            bar.close()
            for sha, rec in zip(shas, results):
                store.put(sha, rec)
            summary["asr_seconds"] = round(time.monotonic() - started, 3)
            summary["audio_s_transcribed"] = round(sum(len(todo[s]) for s in shas) / 16_000, 3)
            summary["transcribed"] = len(shas)
        summary["model_key"] = fp["key"]
        for row, _ in pending:
            rec = store.get(row["audio_sha256"])
            row.update(text=rec["text"], source="asr", asr_avg_logprob=rec["asr_avg_logprob"],
                       asr_tokens=rec["asr_tokens"], asr_chunks=rec["asr_chunks"])

    kept = []
    for row in rows:
        if row["text"].strip():
            kept.append(row)
        else:   # Whisper heard no words (music, noise): nothing to label
            exclusions.append({"item_id": row["item_id"], "path": row["audio_path"], "reason": "asr: empty transcript"})
    summary["items"], summary["excluded"] = len(kept), len(exclusions)

    out_dir, report_dir = Path(out_dir), Path(report_dir)
    table = pd.DataFrame(kept, columns=COLUMNS)
    for col in ("asr_tokens", "asr_chunks"):
        table[col] = table[col].astype("Int64")
    write_csv(table, out_dir / f"{name}.csv")
    excluded_table = pd.DataFrame(exclusions, columns=EXCLUDED_COLUMNS).sort_values("path", kind="stable")
    write_csv(excluded_table, out_dir / f"{name}_excluded.csv")
    reasons = excluded_table["reason"].str.split(":").str[0].value_counts().sort_index()
    write_json(report_dir / f"{name}.json", {
        "corpus": name, "backend": asr.backend, "model": asr.model if use_asr else None,
        "items": len(kept), "excluded": len(exclusions), "excluded_by_reason": {k: int(v) for k, v in reasons.items()},
        "source": {k: int(v) for k, v in table["source"].value_counts().sort_index().items()},
        "transcript_errors": [{"item_id": it["item_id"], "error": it["transcript_error"]}
                              for it in items.to_dict("records") if it["transcript_error"]],
        "hours": round(float(table["duration_s"].sum()) / 3600, 4),
        "mean_words": round(float(table["text"].str.split().str.len().mean()), 2) if len(table) else 0.0,
    })
    return summary
