"""Stage I text end to end (`erc.text_finetune`): the text encoder, mean pooling over each utterance's tokens and
the Stage I classifier trained together on the labelled training turns, as the paper fine-tunes its text model.

The epoch is chosen on validation like every stage. Then every turn is embedded again with the chosen encoder, one
utterance at a time and unpadded (as `erc_embed` and the predict API embed), and those embeddings replace the
cached ones for Stage II and III; the encoder is saved in the checkpoint (`text_encoder/`), where evaluation and
the predict API load it. The cached embeddings of `erc_embed@text` (the same encoder before fine-tuning) still give
Stage I's input standardisation, so the classifier starts as the frozen-encoder one does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from melt.erc.dialogues import DialogueSet, Modality
from melt.erc.inference import batches
from melt.erc.model import UtteranceClassifier
from melt.erc.params import ErcParams
from melt.erc.text import TextEncoder, embed_one
from melt.erc.training import EpochLog, fit, training_device, weighted_f1


class EndToEndText(nn.Module):
    """texts → encoder → masked mean over tokens → Stage I classifier (one "layer")."""

    def __init__(self, encoder, tokenizer, classifier: UtteranceClassifier, max_length: int):
        super().__init__()
        self.encoder, self.classifier = encoder, classifier
        self.tokenizer, self.max_length = tokenizer, max_length

    def pooled(self, texts: list[str]) -> torch.Tensor:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        enc = enc.to(next(self.encoder.parameters()).device)
        hidden = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1)

    def forward(self, texts: list[str]) -> torch.Tensor:
        return self.classifier(self.pooled(texts)[:, None, :])


def embed_all(encoder, tokenizer, texts: list, ok: np.ndarray, max_length: int, dim: int) -> np.ndarray:
    """(N, 1, dim) embeddings of the turns that have text (zeros elsewhere), one utterance at a time."""
    x = np.zeros((len(texts), 1, dim), dtype=np.float32)
    encoder.eval()
    for i in np.flatnonzero(ok):
        x[i] = embed_one(encoder, tokenizer, texts[i], max_length)[0]
    return x


def load_encoder(erc: ErcParams, expected_key: str) -> TextEncoder:
    """`erc.text_model`, trainable; it must be the encoder whose embeddings `erc_embed@text` cached."""
    torch.manual_seed(erc.seed)   # weights the checkpoint lacks (a classifier's pooler) are drawn: seeded, saved
    encoder = TextEncoder(erc.text_model, erc.text_revision, erc.text_max_length)
    if encoder.info["key"] != expected_key:
        raise ValueError(f"erc.text_model {erc.text_model} loads as {encoder.info['key']}, but the text embeddings "
                         f"were computed with {expected_key} (re-run erc_embed@text)")
    encoder.model.requires_grad_(True)
    return encoder


def finetune_text(data: DialogueSet, erc: ErcParams, text_key: str, log: EpochLog | None = None):
    """Train Stage I text end to end. Returns (classifier, history, chosen epoch, encoder, tokenizer) and replaces
    `data.modalities["text"]` with the fine-tuned encoder's embeddings."""
    mod = data.modalities["text"]
    loaded = load_encoder(erc, text_key)
    texts = list(data.turns["text"])
    train_rows = data.rows("train")[mod.ok[data.rows("train")]]
    if not len(train_rows):
        raise ValueError("no training turn has text: Stage I text cannot be fine-tuned")
    torch.manual_seed(erc.seed)
    classifier = UtteranceClassifier(1, loaded.dim, erc.utterance_hidden, len(data.classes), erc.dropout)
    stats = torch.from_numpy(mod.x[train_rows]).double()
    classifier.set_standardization(stats.mean(0).float(), stats.std(0, unbiased=False).float())
    model = EndToEndText(loaded.model, loaded.tokenizer, classifier, erc.text_max_length)
    labelled = (data.y >= 0) & mod.ok
    y = torch.from_numpy(data.y)
    val = data.rows("validation")
    train = [data.dialogues[k] for k in data.in_split("train")]

    def epoch_batches(generator):
        order = [train[i] for i in torch.randperm(len(train), generator=generator).tolist()]
        for part in batches(order, erc.stage1.batch_dialogues):
            rows = np.concatenate(part)
            rows = rows[labelled[rows]]
            if len(rows):
                yield model([texts[i] for i in rows]), y[rows]

    def validate():
        x = np.zeros((len(data.y), 1, loaded.dim), dtype=np.float32)
        x[val] = embed_all(model.encoder, loaded.tokenizer, [texts[i] for i in val], mod.ok[val],
                           erc.text_max_length, loaded.dim)
        probs = np.full((len(data.y), len(data.classes)), np.nan, dtype=np.float32)
        with torch.no_grad():
            rows = val[mod.ok[val]]
            logits = classifier(torch.from_numpy(x[rows]).to(next(classifier.parameters()).device))
            probs[rows] = torch.softmax(logits, dim=-1).cpu().numpy()
        return weighted_f1(data.y, probs, val, data.classes, "stage I (text, fine-tuned)")

    groups = [{"params": model.encoder.parameters(), "lr": erc.text_encoder_lr},
              {"params": classifier.parameters(), "lr": erc.stage1.lr}]
    history, epoch = fit(model, epoch_batches, validate, erc.stage1, erc.seed, "stage1_text", log, groups,
                         device=training_device(erc))
    data.modalities["text"] = Modality(embed_all(model.encoder, loaded.tokenizer, texts, mod.ok, erc.text_max_length,
                                                 loaded.dim), mod.ok, mod.reason)
    return classifier, history, epoch, model.encoder, loaded.tokenizer
