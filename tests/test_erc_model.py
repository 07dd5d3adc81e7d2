"""The three-stage ERC model: exact padding masks, context that only Stage II can use, epoch selection on the
validation split, and the CMU-MOSI scores on a hand-worked example."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erc_helpers import synthetic_set
from melt.erc.evaluate import score
from melt.erc.inference import dialogue_outputs, fusion_outputs, gather, sequences, utterance_outputs
from melt.erc.model import CoAttentionFusion, DialogueContext
from melt.erc.params import ErcParams
from melt.erc.training import train_dialogue, train_hierarchy, train_utterance, weighted_f1


def test_dialogue_model_masking_is_exact():
    """A dialogue padded into a batch of longer ones gives the same outputs as alone (GRU and attention)."""
    torch.manual_seed(0)
    model = DialogueContext(in_dim=6, hidden=8, layers=2, heads=4, classes=3, dropout=0.3).eval()
    reps = torch.randn(20, 6)
    short, long1, long2 = np.arange(0, 3), np.arange(3, 11), np.arange(11, 20)
    ok = np.ones(20, dtype=bool)
    alone, _ = dialogue_outputs(model, reps, ok, [short])
    batched, _ = dialogue_outputs(model, reps, ok, [long1, short, long2])
    assert torch.allclose(alone[short], batched[short], atol=1e-6)
    # ... and the padding really is ignored: other values at the padded steps change nothing.
    index, lengths = sequences([short, long1], ok)
    x = gather(reps, index)
    noisy = x.clone()
    noisy[0, 3:] = 1e3 * torch.randn_like(noisy[0, 3:])
    with torch.no_grad():
        assert torch.allclose(model(x, lengths)[0, :3], model(noisy, lengths)[0, :3], atol=1e-6)


def test_fusion_masking_is_exact_and_missing_audio_is_not_attended():
    torch.manual_seed(1)
    model = CoAttentionFusion(text_dim=8, audio_dim=6, hidden=8, heads=2, classes=3).eval()
    ctx = {"text": torch.randn(12, 8), "audio": torch.randn(12, 6)}
    ok = {"text": np.ones(12, dtype=bool), "audio": np.ones(12, dtype=bool)}
    ok["audio"][1] = False                       # turn 1 of the short dialogue has no audio
    short, long_ = np.arange(0, 3), np.arange(3, 12)
    alone = fusion_outputs(model, ctx, ok, [short])
    batched = fusion_outputs(model, ctx, ok, [long_, short])
    assert np.isnan(alone[1]).all() and np.isnan(batched[1]).all()    # no fusion without audio
    assert np.allclose(alone[[0, 2]], batched[[0, 2]], atol=1e-6)
    changed = {"text": ctx["text"], "audio": ctx["audio"].clone()}
    changed["audio"][1] = 1e3                   # the missing turn's audio vector is never attended to
    assert np.allclose(fusion_outputs(model, changed, ok, [short])[[0, 2]], alone[[0, 2]], atol=1e-6)


def previous_turn_task(seed: int = 0, dialogues: int = 90, classes: int = 3):
    """Each turn's text embedding carries a cue for one class; a turn's label is the cue of the *previous* turn
    (the first turn of a dialogue is context only). A turn's own embedding says nothing about its label."""
    rng = np.random.default_rng(seed)
    cues = 3.0 * np.eye(classes, 8)
    lengths = [int(rng.integers(4, 9)) for _ in range(dialogues)]
    splits = ["train"] * 60 + ["validation"] * 15 + ["test"] * 15
    cue_ids, y = [], []
    for n in lengths:
        ids = rng.integers(classes, size=n)
        cue_ids += list(ids)
        y += [-1] + list(ids[:-1])
    text = cues[cue_ids] + 0.3 * rng.standard_normal((len(cue_ids), 8))
    audio = rng.standard_normal((len(cue_ids), 4))
    return synthetic_set(lengths, splits, text, audio, np.array(y), ("a", "b", "c"))


def test_dialogue_model_learns_what_only_context_reveals():
    data = previous_turn_task()
    erc = ErcParams(utterance_hidden=16, gru_hidden=16, heads=2, fusion_hidden=16, dropout=0.0,
                    stage1={"epochs": 40, "lr": 0.01, "batch_dialogues": 8},
                    stage2={"epochs": 40, "lr": 0.01, "batch_dialogues": 8})
    utterance, _, _ = train_utterance(data, "text", erc)
    reps, probs_utt = utterance_outputs(utterance, data.modalities["text"].x, data.modalities["text"].ok)
    dialogue, _, _ = train_dialogue(data, "text", reps, erc)
    _, probs_dia = dialogue_outputs(dialogue, reps, data.modalities["text"].ok, data.dialogues)
    test = data.rows("test")
    labelled = test[data.y[test] >= 0]
    acc_utt = (probs_utt[labelled].argmax(1) == data.y[labelled]).mean()
    acc_dia = (probs_dia[labelled].argmax(1) == data.y[labelled]).mean()
    print(f"test accuracy: stage I {acc_utt:.3f}, stage II {acc_dia:.3f} (chance 1/3)")
    assert acc_dia > 0.8
    assert acc_utt < 0.5


def test_epochs_are_chosen_on_validation_never_on_test():
    """Relabelling the test split changes nothing in training; the chosen epoch is the best on validation."""
    data = previous_turn_task(seed=3, dialogues=90)
    erc = ErcParams(utterance_hidden=8, gru_hidden=8, heads=2, fusion_hidden=8, stage1={"epochs": 5},
                    stage2={"epochs": 5}, stage3={"epochs": 5})
    models, history, chosen = train_hierarchy(data, erc)
    flipped = previous_turn_task(seed=3, dialogues=90)
    test = flipped.rows("test")
    flipped.y[test] = np.where(flipped.y[test] >= 0, (flipped.y[test] + 1) % 3, -1)
    _, history_flipped, chosen_flipped = train_hierarchy(flipped, erc)
    assert history == history_flipped and chosen == chosen_flipped
    for stage, epochs in history.items():
        scores = [e["val_weighted_f1"] for e in epochs]
        assert chosen[stage] == int(np.argmax(scores)), stage      # the first best epoch


def test_weighted_f1_needs_validation_labels():
    data = previous_turn_task(dialogues=90)
    probs = np.full((len(data.y), 3), np.nan)
    with pytest.raises(ValueError, match="no labelled validation turn"):
        weighted_f1(data.y, probs, data.rows("validation"), data.classes, "stage I (text)")


def test_cmumosi_scores_hand_worked():
    """has-0: all 6 segments; non-0: the segment scored 0 leaves."""
    truth = ["positive", "positive", "negative", "negative", "positive", "negative"]
    predicted = ["positive", "negative", "negative", "positive", "positive", "negative"]
    ratings = np.array([2.0, 0.0, -1.0, -0.4, 1.2, -3.0])
    s = score("cmumosi", truth, predicted, ratings)
    assert s["acc2_has0"] == round(4 / 6, 4)
    # has-0: positive P=2/3 R=2/3 F1=2/3; negative P=2/3 R=2/3 F1=2/3 → weighted 2/3
    assert s["f1_has0"] == round(2 / 3, 4)
    # non-0 (drop segment 2): truth P,N,N,P,N  pred P,N,P,P,N → acc 4/5; positive F1 = 2·(2/3·1)/(2/3+1) = 0.8,
    # negative P=1 R=2/3 F1=0.8 → weighted 0.8
    assert s["acc2_non0"] == 0.8 and s["f1_non0"] == 0.8
