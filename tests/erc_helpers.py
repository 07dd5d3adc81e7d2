"""Fixtures of the ERC tests: tiny text encoders, corpora in the IEMOCAP and CMU-MOSI release layouts, a small
MELD-format corpus (data/prepared + data/melt) with tone audio, and synthetic in-memory dialogue sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from melt.erc.dialogues import DialogueSet, Modality, group_dialogues

TONES = {"anger": (330.0, 0.6), "sadness": (140.0, 0.12), "joy": (260.0, 0.4), "neutral": (190.0, 0.25)}
WORDS = {"anger": "furious angry mad", "sadness": "sad crying gloomy", "joy": "happy great lovely",
         "neutral": "the table is here"}


def write_voice(path: Path, seconds: float, freq: float, amp: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    signal = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal.astype(np.float32), 16000, subtype="PCM_16")


def tiny_text_model(folder: Path, texts: list[str], seed: int = 0, hidden: int = 32) -> Path:
    """A random 2-layer RoBERTa-style encoder with a word-level tokenizer trained on `texts`, saved with
    save_pretrained (loads through AutoModel / AutoTokenizer like any Hub model)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<s>", "<pad>", "</s>", "<unk>"]))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=37, max_position_embeddings=140, pad_token_id=1, type_vocab_size=1)
    RobertaModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


PREPARE_EXCLUDED = ["reason", "detail", "row", "split", "dialogue_id", "utterance_id", "Speaker", "Utterance", "Emotion",
                    "audio_path", "start_s"]
NO_AUDIO_REASONS = ("audio_missing", "audio_unreadable", "bad_timestamp", "invalid_id", "duplicate_key")


def meld_corpus(root: Path, dialogues_per_split: dict[str, int] | None = None, missing_audio: str | None = None,
                seed: int = 0, set_aside: dict[str, str] | None = None) -> dict[str, Path]:
    """data/prepared and data/melt for a MELD-format corpus of 3–5-turn dialogues whose tone and words follow the
    emotion; MELT labels disagree with MELD's on every fifth turn. `missing_audio`: an item (`test/dia0_utt1`)
    whose WAV is not written. `set_aside`: item → prepare's reason: rows moved to prepared/excluded.csv (not in the
    MELT subset, so not in data/melt either; no audio path for the reasons prepare checks before the audio)."""
    rng = np.random.default_rng(seed)
    labels = list(TONES)
    prepared, melt = root / "prepared", root / "melt"
    prepared.mkdir(parents=True, exist_ok=True)
    melt.mkdir(parents=True, exist_ok=True)
    counts = dialogues_per_split or {"train": 12, "dev": 4, "test": 4}
    set_aside = set_aside or {}
    n, excluded = 0, []
    for split, dialogues in counts.items():
        rows = []
        for d in range(dialogues):
            for u in range(3 + (d % 3)):
                emotion = labels[int(rng.integers(len(labels)))]
                freq, amp = TONES[emotion]
                audio = root / "audio" / split / f"dia{d}_utt{u}.wav"
                if f"{split}/dia{d}_utt{u}" != missing_audio:
                    write_voice(audio, 0.6, freq * (1 + 0.02 * (n % 3)), amp, seed=n)
                llm = emotion if n % 5 else labels[(labels.index(emotion) + 1) % len(labels)]
                rows.append({"split": split, "dialogue_id": d, "utterance_id": u, "Speaker": "ana" if u % 2 else "ben",
                             "Utterance": f"{WORDS[emotion]} number {u}", "Emotion": emotion, "llm_label": llm,
                             "start_s": 10.0 * d + u, "audio_path": str(audio)})
                n += 1
        df = pd.DataFrame(rows)
        aside = [f"{split}/dia{d}_utt{u}" in set_aside for d, u in zip(df["dialogue_id"], df["utterance_id"])]
        for r in df[aside].to_dict("records"):
            reason = set_aside[f"{split}/dia{r['dialogue_id']}_utt{r['utterance_id']}"]
            excluded.append({**r, "reason": reason, "detail": f"{reason} (test fixture)", "row": 0,
                             "audio_path": "" if reason in NO_AUDIO_REASONS else r["audio_path"]})
        kept = df[[not a for a in aside]]
        kept.drop(columns="llm_label").to_csv(prepared / f"{split}.csv", index=False)
        kept.to_csv(melt / f"{split}.csv", index=False)
    pd.DataFrame(excluded, columns=PREPARE_EXCLUDED).to_csv(prepared / "excluded.csv", index=False)
    pd.DataFrame(columns=["reason", "detail", "split", "dialogue_id", "utterance_id"]).to_csv(
        melt / "excluded.csv", index=False)
    return {"prepared": prepared, "melt": melt}


def write_iemocap(root: Path, sessions: dict[int, dict[str, list[tuple]]]) -> Path:
    """IEMOCAP_full_release layout. sessions: {n: {dialog: [(turn, start, end, text, code or None, has_wav)]}};
    transcript lines are written in the given order, a code None gets no EmoEvaluation line."""
    for number, dialogs in sessions.items():
        base = root / f"Session{number}"
        for dialog, turns in dialogs.items():
            (base / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
            (base / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
            lines, evaluation = [], ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for k, (turn, start, end, text, code, has_wav) in enumerate(turns):
                if text is not None:
                    lines.append(f"{turn} [{start:08.4f}-{end:08.4f}]: {text}")
                if code is not None:
                    evaluation += [f"[{start:.4f} - {end:.4f}]\t{turn}\t{code}\t[2.5000, 2.5000, 2.5000]",
                                   f"C-E1:\tNeutral;\t()", ""]
                if has_wav:
                    write_voice(base / "sentences" / "wav" / dialog / f"{turn}.wav", 0.4, 200 + 10 * k, 0.3, seed=k)
            (base / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
            (base / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evaluation) + "\n")
    return root


def write_mosi(root: Path, videos: dict[str, list[tuple]], transcript_order: dict[str, list[int]] | None = None) -> Path:
    """CMU-MOSI raw layout. videos: {video: [(segment, start, end, score, text or None, has_wav)]}."""
    label_rows = []
    (root / "Transcript" / "Segmented").mkdir(parents=True, exist_ok=True)
    for video, segments in videos.items():
        by_segment = {s[0]: s for s in segments}
        order = (transcript_order or {}).get(video, [s[0] for s in segments])
        lines = [f"{seg}_DELIMITER_{by_segment[seg][4]}" for seg in order if by_segment[seg][4] is not None]
        (root / "Transcript" / "Segmented" / f"{video}.annotprocessed").write_text("\n".join(lines) + "\n")
        for seg, start, end, score, _, has_wav in segments:
            label_rows.append(f"{start},{end},{video},{seg},{score}")
            if has_wav:
                write_voice(root / "Audio" / "WAV_16000" / "Segmented" / f"{video}_{seg}.wav", 0.4, 180 + 5 * seg,
                            0.3, seed=seg)
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    (root / "Labels" / "OpinionLevelSentiment.csv").write_text("\n".join(label_rows) + "\n")
    return root


def synthetic_set(lengths: list[int], splits: list[str], text: np.ndarray, audio: np.ndarray, y: np.ndarray,
                  classes: tuple[str, ...], audio_ok: np.ndarray | None = None) -> DialogueSet:
    """An in-memory DialogueSet: dialogues of the given lengths and splits; (N, dim) text and audio embeddings."""
    rows = []
    for k, (n, split) in enumerate(zip(lengths, splits)):
        rows += [{"dataset": "synthetic", "split": split, "dialogue_id": f"d{k}", "turn": t, "item_id": f"d{k}_{t}",
                  "label": classes[y[len(rows) + t]] if y[len(rows) + t] >= 0 else None, "score": None}
                 for t in range(n)]
    turns = pd.DataFrame(rows)
    ok_a = np.ones(len(turns), dtype=bool) if audio_ok is None else audio_ok
    modalities = {"text": Modality(text[:, None, :].astype(np.float32), np.ones(len(turns), dtype=bool),
                                   [None] * len(turns)),
                  "audio": Modality(np.where(ok_a[:, None], audio, 0)[:, None, :].astype(np.float32), ok_a,
                                    [None if k else "audio missing" for k in ok_a])}
    return DialogueSet(turns, classes, y.astype(np.int64), group_dialogues(turns), modalities)
