"""Benchmark: ERC training on a MELD-sized set from cached embeddings vs recomputing the embeddings every epoch.

A synthetic set with MELD's train size (1,039 dialogues, 9,989 utterances; the real dialogue lengths when the
MELD CSVs are found in $MELT_MELD_DIR or ../shared/data/meld, else lengths drawn to the same totals) and its dev
size for epoch selection (114 dialogues, 1,109 utterances); embeddings 768-d (text, RoBERTa-base width) and 1024-d
(audio, wav2vec2-large width), random with a class-dependent offset so that the stages learn something. In one run:
  * the whole hierarchy (melt.erc.training.train_hierarchy, the default params: 30 epochs per stage) on the cached
    embeddings, with the time of every epoch of every stage;
  * the embeddings' cost per utterance, measured on a few utterances with random-weight RoBERTa-base (text, MELD-like
    sentences) and wav2vec2-large (audio, 3.2 s: MELD's mean utterance length) architectures — nothing downloaded;
  * a Stage II+III epoch without the cache = recomputing both embeddings for every utterance (+ the cached epoch).

    python benchmarks/erc_cache.py [--measure 4] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from melt.erc.dialogues import DialogueSet, Modality, group_dialogues
from melt.erc.params import ErcParams
from melt.erc.training import train_hierarchy

TRAIN = (1039, 9989)
DEV = (114, 1109)
CLASSES = ("anger", "disgust", "sadness", "joy", "neutral", "surprise", "fear")
SENTENCE = "Oh my god, I can't believe you actually did that to me yesterday!"


def meld_lengths() -> dict[str, list[int]] | None:
    here = Path(__file__).resolve().parents[1]
    for cand in (os.environ.get("MELT_MELD_DIR"), here.parent / "shared" / "data" / "meld"):
        if cand and (Path(cand) / "train_sent_emo.csv").is_file():
            return {split: list(pd.read_csv(Path(cand) / f"{split}_sent_emo.csv").groupby("Dialogue_ID").size())
                    for split in ("train", "dev")}
    return None


def drawn_lengths(dialogues: int, utterances: int, rng) -> list[int]:
    lengths = np.maximum(1, rng.poisson(utterances / dialogues - 1, dialogues) + 1)
    while lengths.sum() != utterances:   # adjust one dialogue at a time to the exact total
        i = int(rng.integers(dialogues))
        lengths[i] = max(1, lengths[i] + (1 if lengths.sum() < utterances else -1))
    return lengths.tolist()


def synthetic_meld(seed: int = 0) -> tuple[DialogueSet, str]:
    rng = np.random.default_rng(seed)
    real = meld_lengths()
    train = real["train"] if real else drawn_lengths(*TRAIN, rng)
    dev = real["dev"] if real else drawn_lengths(*DEV, rng)
    lengths = train + dev + [2]                   # one tiny test dialogue (training never reads it)
    splits = ["train"] * len(train) + ["validation"] * len(dev) + ["test"]
    n = sum(lengths)
    y = rng.integers(len(CLASSES), size=n)
    modalities = {}
    for name, dim in (("text", 768), ("audio", 1024)):
        centres = rng.standard_normal((len(CLASSES), dim)).astype(np.float32)
        x = rng.standard_normal((n, 1, dim)).astype(np.float32) * 20 + centres[y][:, None, :]   # not separable
        modalities[name] = Modality(x, np.ones(n, dtype=bool), [None] * n)
    rows = [{"split": s, "dialogue_id": f"d{k}", "turn": t} for k, (m, s) in enumerate(zip(lengths, splits))
            for t in range(m)]
    turns = pd.DataFrame(rows)
    source = "MELD's real dialogue lengths" if real else "drawn dialogue lengths"
    return DialogueSet(turns, CLASSES, y.astype(np.int64), group_dialogues(turns), modalities), source


def embedding_seconds(measure: int) -> dict[str, float]:
    """Seconds per utterance of a RoBERTa-base text embedding and a wav2vec2-large audio embedding (random weights)."""
    from transformers import RobertaConfig, RobertaModel, Wav2Vec2Config, Wav2Vec2Model

    from melt.compute.backbones import layer_means

    torch.manual_seed(0)
    text_model = RobertaModel(RobertaConfig(vocab_size=50265)).eval()
    ids = torch.randint(5, 50000, (1, 18))          # a MELD-like sentence: ~18 tokens
    with torch.inference_mode():
        text_model(input_ids=ids)                   # warm-up
        start = time.perf_counter()
        for _ in range(measure):
            text_model(input_ids=ids).last_hidden_state.mean(1)
        text = (time.perf_counter() - start) / measure
    del text_model
    audio_model = Wav2Vec2Model(Wav2Vec2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                               intermediate_size=4096, feat_extract_norm="layer",
                                               do_stable_layer_norm=True, layerdrop=0.0)).eval()
    wave = (0.1 * np.random.default_rng(0).standard_normal(int(3.2 * 16000))).astype(np.float32)
    layer_means(audio_model, wave)                  # warm-up
    start = time.perf_counter()
    for _ in range(max(1, measure // 2)):
        layer_means(audio_model, wave)
    audio = (time.perf_counter() - start) / max(1, measure // 2)
    return {"text": text, "audio": audio}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measure", type=int, default=4, help="utterances timed per embedding model")
    ap.add_argument("--epochs", type=int, default=30, help="epochs per stage (default: the params' default)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", file=sys.stderr)

    data, source = synthetic_meld()
    train_turns = len(data.rows("train"))
    print(f"synthetic MELD-sized set ({source}): {len(data.in_split('train'))} train dialogues / {train_turns} "
          f"utterances, {len(data.in_split('validation'))} validation dialogues / {len(data.rows('validation'))}; "
          f"text 768-d, audio 1024-d")
    schedule = {"epochs": args.epochs}
    erc = ErcParams(stage1=schedule, stage2=schedule, stage3=schedule)
    stamps: dict[str, list[float]] = {}
    last = [time.perf_counter()]

    def log(stage: str, entry: dict) -> None:
        now = time.perf_counter()
        stamps.setdefault(stage, []).append(now - last[0])
        last[0] = now
        print(f"  {stage} epoch {entry['epoch']}: {stamps[stage][-1]:.2f} s", file=sys.stderr)

    start = time.perf_counter()
    _, history, chosen = train_hierarchy(data, erc, log)
    total = time.perf_counter() - start
    # The first epoch of a stage also pays its set-up (and the frozen representations of the stage before).
    per_epoch = {stage: float(np.median(times)) for stage, times in stamps.items()}
    for stage, seconds in per_epoch.items():
        print(f"  {stage}: {seconds:.2f} s/epoch (median), chosen epoch {chosen[stage]}, validation weighted F1 "
              f"{history[stage][chosen[stage]]['val_weighted_f1']:.3f}")
    cached = per_epoch["stage2_text"] + per_epoch["stage2_audio"] + per_epoch["stage3_fusion"]
    print(f"whole ERC training from cached embeddings ({args.epochs} epochs × 5 stage models): {total:.0f} s "
          f"= {total / 60:.1f} min")

    cost = embedding_seconds(args.measure)
    recompute = train_turns * (cost["text"] + cost["audio"])
    print(f"embeddings per utterance: text (RoBERTa-base) {cost['text'] * 1000:.0f} ms, audio (wav2vec2-large, 3.2 s) "
          f"{cost['audio'] * 1000:.0f} ms")
    print(f"Stage II+III epoch (text II + audio II + fusion III) from the cache: {cached:.1f} s; recomputing both "
          f"embeddings of the {train_turns} training utterances each epoch: {recompute / 60:.0f} min + {cached:.1f} s "
          f"= {(recompute + cached) / cached:.0f}× the cached epoch")
    print(f"{args.epochs} Stage II+III epochs: cached {args.epochs * cached / 60:.1f} min vs recomputing "
          f"{args.epochs * (recompute + cached) / 3600:.1f} h (extraction once ≈ {recompute / 60:.0f} min)")


if __name__ == "__main__":
    main()
