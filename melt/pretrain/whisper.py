"""Whisper ASR through transformers: load, fingerprint, cut long audio, decode chunks in batches.

Whisper reads 30 s windows: longer audio is cut into chunks of at most `chunk_s` seconds, each cut at
the quietest 20 ms frame of the last 2 s before the limit (so words are rarely split); the chunks'
transcripts are joined with a space. Every chunk is padded to 30 s by the feature extractor, so a
chunk decodes the same alone or in a batch.

Confidence: `avg_logprob`, the mean log-probability of the generated tokens (end-of-text included),
as openai-whisper reports it; computed for greedy decoding (num_beams 1), empty with beam search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from melt.data.audio import SAMPLE_RATE
from melt.fingerprint import model_fingerprint

FRAME = SAMPLE_RATE // 50   # 20 ms
SEARCH_S = 2.0


@dataclass(frozen=True)
class Decoding:
    language: str | None
    max_new_tokens: int
    num_beams: int
    chunk_s: float


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_whisper(model_id: str, revision: str | None, device: str, dtype: torch.dtype):
    """(model, processor) from a Hub id or a local `save_pretrained` folder."""
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_id, revision=revision)
    model = AutoModelForSpeechSeq2Seq.from_pretrained(model_id, revision=revision, dtype=dtype)
    return model.to(device).eval(), processor


def fingerprint(model_id: str, revision: str | None, model, decoding: Decoding) -> dict:
    """What determines a transcript: config, weights, dtype, decoding settings (keyed); model id, revision, resolved
    commit (recorded, not keyed: melt.fingerprint)."""
    return model_fingerprint(model, model=model_id, revision=revision, dtype=str(model.dtype).removeprefix("torch."),
                             language=decoding.language, max_new_tokens=decoding.max_new_tokens,
                             num_beams=decoding.num_beams, chunk_s=decoding.chunk_s)


def split_chunks(signal: np.ndarray, chunk_s: float) -> list[np.ndarray]:
    """Pieces of at most chunk_s seconds, each cut at the quietest 20 ms frame of the last 2 s before its limit."""
    limit = int(chunk_s * SAMPLE_RATE)
    chunks, start = [], 0
    while signal.size - start > limit:
        end = start + limit
        lo = max(start + FRAME, end - int(SEARCH_S * SAMPLE_RATE))
        frames = signal[lo:end][: (end - lo) // FRAME * FRAME].reshape(-1, FRAME)
        cut = lo + int(np.argmin((frames ** 2).mean(axis=1))) * FRAME + FRAME // 2 if len(frames) else end
        chunks.append(signal[start:cut])
        start = cut
    chunks.append(signal[start:])
    return chunks


class WhisperTranscriber:
    def __init__(self, model, processor, decoding: Decoding):
        self.model, self.processor, self.decoding = model, processor, decoding
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def decode_batch(self, chunks: list[np.ndarray]) -> list[tuple[str, float | None, int]]:
        """(text, sum of token log-probabilities or None, tokens) per chunk."""
        d = self.decoding
        features = self.processor.feature_extractor(chunks, sampling_rate=SAMPLE_RATE, return_tensors="pt",
                                                    return_attention_mask=True)
        inputs = features.input_features.to(self.device, self.model.dtype)
        out = self.model.generate(inputs, attention_mask=features.attention_mask.to(self.device),
                                  language=d.language, task="transcribe", max_new_tokens=d.max_new_tokens,
                                  num_beams=d.num_beams, return_dict_in_generate=True,
                                  output_scores=d.num_beams == 1)
        sequences = out.sequences
        texts = [t.strip() for t in self.processor.batch_decode(sequences, skip_special_tokens=True)]
        if d.num_beams != 1:
            return [(t, None, 0) for t in texts]
        steps = len(out.scores)
        logprobs = self.model.compute_transition_scores(sequences, out.scores, normalize_logits=True).float().cpu()
        generated = sequences[:, -steps:].cpu()
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        results = []
        for text, toks, lps in zip(texts, generated.tolist(), logprobs):
            n = next((i + 1 for i, t in enumerate(toks) if t in eos), len(toks))   # up to and with end-of-text
            results.append((text, float(lps[:n].sum()), n))
        return results

    def transcribe(self, signals: list[np.ndarray], batch_size: int, on_batch=None) -> list[dict]:
        """One record per signal: text, asr_avg_logprob, asr_tokens, asr_chunks."""
        pieces = [(i, c) for i, s in enumerate(signals) for c in split_chunks(s, self.decoding.chunk_s)]
        decoded: list[tuple[str, float | None, int]] = []
        for b in range(0, len(pieces), batch_size):
            batch = [c for _, c in pieces[b:b + batch_size]]
            decoded.extend(self.decode_batch(batch))
            if on_batch:
                on_batch(len(batch))
        records = [{"text": [], "logprob": 0.0, "tokens": 0, "chunks": 0, "scored": True} for _ in signals]
        for (i, _), (text, logprob, tokens) in zip(pieces, decoded):
            rec = records[i]
            if text:
                rec["text"].append(text)
            rec["chunks"] += 1
            rec["tokens"] += tokens
            if logprob is None:
                rec["scored"] = False
            else:
                rec["logprob"] += logprob
        return [{"text": " ".join(r["text"]),
                 "asr_avg_logprob": round(r["logprob"] / r["tokens"], 4) if r["scored"] and r["tokens"] else None,
                 "asr_tokens": r["tokens"], "asr_chunks": r["chunks"]} for r in records]


class WhisperModel:
    """Runner model (melt.compute.runner): audio paths in, transcript records out; loaded once per actor.

    `device` is the one the driver resolved for the actors (melt.compute.device.worker_device) and `expect_key`
    the fingerprint the driver keys the store with: an actor whose model loads differently (other weights, dtype)
    stops instead of storing transcripts under another model's key."""

    def __init__(self, model: str, revision: str | None, device: str, dtype: str, decoding: Decoding,
                 batch_size: int, expect_key: str | None = None):
        weights, processor = load_whisper(model, revision, device, resolve_dtype(dtype, device))
        self.transcriber = WhisperTranscriber(weights, processor, decoding)
        self.batch_size = batch_size
        self.info = fingerprint(model, revision, weights, decoding)
        if expect_key is not None and self.info["key"] != expect_key:
            raise RuntimeError(f"Whisper {model} loads as {self.info['key']} here, the driver expected {expect_key}")

    @staticmethod
    def prepare(path: str) -> np.ndarray:
        from melt.data.audio import load_audio

        return load_audio(path)   # the driver checked the file (melt.pretrain.audio_items)

    def __call__(self, signals: list[np.ndarray]) -> list[dict]:
        return self.transcriber.transcribe(signals, self.batch_size)
