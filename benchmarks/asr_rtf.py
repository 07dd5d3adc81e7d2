"""ASR real-time factor (processing seconds per second of audio) of the `transcribe` stage's Whisper decoding.

    .venv/bin/python benchmarks/asr_rtf.py [--utterances 16] [--batch 8] [--skip-large]

1. The tiny random Whisper of the tests (d_model 32, 1+1 layers), through melt.pretrain.whisper: the same
   utterances one at a time vs in batches. A random model emits tokens up to `max_new_tokens`, so every
   utterance is given the same number of decoding steps: 20, about what 5 s of English speech needs.
2. whisper-large-v3 on this CPU, extrapolated: its exact layer shapes (d_model 1280, 20 heads, FFN 5120,
   128 mel bins, vocab 51866) with 2 of its 32 encoder and 2 of its 32 decoder layers, random weights (the
   real ones need the network); the measured encoder pass over a 30 s window and the measured decoder step
   are scaled by 32/2 (cost is linear in layers). Whisper always encodes a full 30 s window, so short
   utterances pay for the padding: the RTF is given for 5 s utterances, batch 1 and batched.
Run with the stage's exact settings (melt/reproducible.py: one thread, portable kernels). Numbers are printed, never
asserted; the machine's load average is printed beside them.
"""

from __future__ import annotations

from melt.reproducible import configure_torch  # first: the settings the `transcribe` stage runs with

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from melt.pretrain.whisper import Decoding, WhisperTranscriber, load_whisper  # noqa: E402
from pretrain_helpers import tiny_whisper, tone  # noqa: E402

SR = 16_000
STEPS = 20        # decoder steps per utterance (~5 s of English speech)
UTT_S = 5.0


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wave = sum(tone(seconds, f, amplitude=0.1) for f in rng.uniform(90, 900, size=4))
    return (wave * (0.5 + 0.5 * np.sin(np.linspace(0, 8 * np.pi, wave.size)))).astype(np.float32)


def tiny_rtf(n: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_whisper(Path(tmp) / "tiny", max_target_positions=STEPS + 8)
        model, processor = load_whisper(str(folder), None, "cpu", torch.float32)
    model.generation_config.begin_suppress_tokens = []
    model.generation_config.eos_token_id = -1  # never stop early: every utterance decodes exactly STEPS tokens
    tr = WhisperTranscriber(model, processor, Decoding("en", STEPS, 1, 30.0))
    waves = [speechlike(UTT_S, i) for i in range(n)]
    audio = n * UTT_S
    tr.transcribe(waves[:2], 2)                                   # warm-up
    t = time.perf_counter()
    for w in waves:
        tr.transcribe([w], 1)
    single = time.perf_counter() - t
    t = time.perf_counter()
    tr.transcribe(waves, batch)
    batched = time.perf_counter() - t
    print(f"tiny Whisper ({n} × {UTT_S:g} s, {STEPS} tokens each): one at a time RTF {single / audio:.4f}, "
          f"batch {batch} RTF {batched / audio:.4f} ({single / batched:.2f}× faster)")


@torch.inference_mode()
def large_v3_extrapolated(batch: int) -> None:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    keep, full = 2, 32
    cfg = WhisperConfig(vocab_size=51866, num_mel_bins=128, d_model=1280, encoder_layers=keep, decoder_layers=keep,
                        encoder_attention_heads=20, decoder_attention_heads=20, encoder_ffn_dim=5120,
                        decoder_ffn_dim=5120, max_source_positions=1500, max_target_positions=448)
    model = WhisperForConditionalGeneration(cfg).eval()
    for b in (1, batch):
        feats = torch.randn(b, 128, 3000)
        model.model.encoder(feats)                                # warm-up
        t = time.perf_counter()
        enc = model.model.encoder(feats).last_hidden_state
        enc_s = time.perf_counter() - t
        ids = torch.full((b, 4), 50258)
        out = model(encoder_outputs=(enc,), decoder_input_ids=ids, use_cache=True)
        past = out.past_key_values
        t = time.perf_counter()
        for _ in range(STEPS):
            out = model(encoder_outputs=(enc,), decoder_input_ids=ids[:, -1:], past_key_values=past, use_cache=True)
            past = out.past_key_values
        step_s = (time.perf_counter() - t) / STEPS
        total = (enc_s + step_s * (STEPS + 4)) * full / keep
        print(f"whisper-large-v3 on this CPU (extrapolated from {keep}/{full} layers), batch {b}: encoder "
              f"{enc_s * full / keep:.1f} s per 30 s window, decoder {step_s * full / keep * 1000:.0f} ms per step; "
              f"RTF {total / (b * UTT_S):.2f} for {UTT_S:g} s utterances "
              f"(≈ {total / (b * UTT_S) * 230:.0f} h of CPU for MSP-Podcast's ~230 h)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--utterances", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()
    configure_torch()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    tiny_rtf(args.utterances, args.batch)
    if not args.skip_large:
        large_v3_extrapolated(args.batch)


if __name__ == "__main__":
    main()
