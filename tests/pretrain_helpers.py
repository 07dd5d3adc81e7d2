"""Fixtures of the text pre-training tests and benchmarks: a tiny random Whisper saved with `save_pretrained`,
small audio files, the loopback LLM server answering the sentiment prompt."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from llm_server import LLMServer

WHISPER_SPECIALS = ["<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                    "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


def tiny_whisper(folder: Path, seed: int = 0, max_target_positions: int = 48) -> Path:
    """A randomly initialised Whisper (1 encoder + 1 decoder layer, d_model 32) with a byte-level BPE tokenizer
    trained on a few lines and a real WhisperFeatureExtractor: loadable with from_pretrained, offline."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor, WhisperTokenizer)

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the weather is lovely today", "i lost my keys again", "thank you so much"] * 4,
                            vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    bpe.save_model(str(folder))
    tok = WhisperTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token="<|endoftext|>",
                           bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS})
    ids = {t: tok.convert_tokens_to_ids(t) for t in WHISPER_SPECIALS}
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    config = WhisperConfig(vocab_size=len(tok), num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_ffn_dim=64, max_source_positions=1500, max_target_positions=max_target_positions,
                           pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
                           decoder_start_token_id=ids["<|startoftranscript|>"])
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
        max_length=max_target_positions, is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], begin_suppress_tokens=[eot], suppress_tokens=[])
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok).save_pretrained(folder)
    return folder


def tone(seconds: float, freq: float = 220.0, sr: int = 16_000, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, signal: np.ndarray, sr: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), signal, sr)
    return path


class SentimentServer(LLMServer):
    """The loopback server answering the sentiment prompt with one word ("answer X" in the text is obeyed;
    the out_of_set fault answers "mostly positive")."""

    @staticmethod
    def answer_for(body: dict, fault: str) -> str:
        text = body["messages"][-1]["content"]
        if "positive, negative or neutral" not in text:
            return LLMServer.answer_for(body, fault)
        if fault == "out_of_set":
            return "mostly positive"
        transcript = text.rsplit("Transcript: ", 1)[-1]
        if "answer " in transcript:
            return transcript.split("answer ", 1)[1].split()[0]
        digest = hashlib.sha256(f"{transcript}|{body.get('seed')}".encode()).digest()
        return ["Positive.", "negative", "Neutral"][digest[0] % 3]
