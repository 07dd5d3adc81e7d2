"""Entry point of the `transcribe` stage: unlabelled corpus → data/transcripts/{corpus}.csv (+ _excluded.csv).

Every file is read and checked (unreadable, empty, silent → excluded with the reason). Text comes from the
corpus (`asr.backend: provided`) or from Whisper through the transcript store, so only audio never
transcribed by this model fingerprint is decoded, by Whisper instances run through melt.compute.runner
(`compute.engine`: this machine or a Ray cluster; only this process writes the store). The CSV holds nothing run-dependent: how many
transcripts were decoded or reused, and how fast, go to the returned summary (printed by the stage).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from melt.compute.params import ComputeParams
from melt.compute.runner import ModelSpec, run_model
from melt.data.corpora.unlabelled import EXCLUDED_COLUMNS, read_unlabelled
from melt.io import write_csv, write_json
from melt.pretrain.audio_items import inspect_audio
from melt.pretrain.params import AsrParams, PretrainParams
from melt.repo import shared_path

COLUMNS = ["item_id", "audio_path", "audio_sha256", "duration_s", "text", "source",
           "asr_avg_logprob", "asr_tokens", "asr_chunks"]


def _whisper(asr: AsrParams, compute: ComputeParams):
    """The model spec the workers build, and an instance built here (its fingerprint keys the store; the local
    engine runs it). Under Ray the instance here loads on the CPU with the actors' dtype: same fingerprint."""
    from melt.compute.device import worker_device
    from melt.pretrain.whisper import Decoding, WhisperModel

    device = worker_device(asr.device, compute.engine, compute.transcribe.num_gpus, "asr.device")
    kwargs = {"model": asr.model, "revision": asr.revision, "device": device, "dtype": asr.dtype,
              "decoding": Decoding(asr.language, asr.max_new_tokens, asr.num_beams, asr.chunk_s),
              "batch_size": asr.batch_size}
    if asr.dtype == "auto":   # resolved for the actors' device, not this process's
        kwargs["dtype"] = "float16" if device.startswith("cuda") else "float32"
    here = WhisperModel(**{**kwargs, "device": device if compute.engine == "local" else "cpu"})
    return ModelSpec(WhisperModel, {**kwargs, "expect_key": here.info["key"]}), here


def transcribe_corpus(pretrain: PretrainParams, asr: AsrParams, out_dir: str | Path = "data/transcripts",
                      report_dir: str | Path = "reports/transcribe", progress: bool = False,
                      compute: ComputeParams | None = None) -> dict:
    compute = compute or ComputeParams()
    name = pretrain.corpus.name
    items, excluded = read_unlabelled(name, pretrain.corpus.path, pretrain.max_items)
    exclusions = excluded.to_dict("records")
    rows, pending = [], []   # pending: rows still to transcribe
    use_asr = asr.backend == "whisper"
    for it in tqdm(items.to_dict("records"), desc="audio", unit="file", disable=not progress):
        has_text = bool(it["transcript"])
        needs_asr = use_asr and not (asr.use_provided and has_text)
        audio = inspect_audio(it["audio_path"], keep_signal=False)   # the model's workers decode it again
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
            pending.append(row)

    summary = {"corpus": name, "items": len(rows), "excluded": len(exclusions), "transcribed": 0, "reused": 0,
               "audio_s_transcribed": 0.0, "asr_seconds": 0.0}
    if pending:
        model, here = _whisper(asr, compute)
        from melt.pretrain.transcript_store import TranscriptStore

        store = TranscriptStore(shared_path(asr.cache_dir, "cache/transcripts"), here.info)
        todo = {}   # sha → row: the same audio twice is decoded once
        for row in pending:
            if store.get(row["audio_sha256"]) is None:
                todo.setdefault(row["audio_sha256"], row)
            else:
                summary["reused"] += 1
        if todo:
            started = time.monotonic()
            run_model(model, [(sha, row["audio_path"]) for sha, row in todo.items()], store.put, compute,
                      compute.transcribe, desc="whisper", progress=progress, local_model=here)
            summary["asr_seconds"] = round(time.monotonic() - started, 3)
            summary["audio_s_transcribed"] = round(sum(row["duration_s"] for row in todo.values()), 3)
            summary["transcribed"] = len(todo)
        summary["model_key"] = here.info["key"]
        for row in pending:
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
