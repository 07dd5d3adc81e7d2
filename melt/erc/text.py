"""Utterance text embeddings: the mean of a transformer encoder's last hidden states over the utterance's tokens.

Any `save_pretrained` folder or Hub id loads through AutoModel (a sequence classifier's head, e.g. the model of
`pretrain_text`, is dropped: its encoder is what the dialogue model uses). One utterance at a time, unpadded, so
an utterance's vector does not depend on which others are computed with it (the store can share it).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from melt.fingerprint import model_fingerprint

POOLING = "mean-last"


class TextEncoder:
    def __init__(self, model_id: str, revision: str | None = None, max_length: int = 128, device: str = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_id, revision=revision)
        model, loading = AutoModel.from_pretrained(model_id, revision=revision, output_loading_info=True)
        self.model = model.to(device).eval()
        self.model.requires_grad_(False)
        self.max_length = max_length
        self.info = fingerprint(model_id, revision, self.model, set(loading["missing_keys"]), self.tokenizer,
                                max_length)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, text: str) -> np.ndarray:
        """(1, 1, hidden) float32: one "crop", one "layer" (the shape of the feature store's vectors)."""
        return embed_one(self.model, self.tokenizer, text, self.max_length)


@torch.inference_mode()
def embed_one(model, tokenizer, text: str, max_length: int) -> np.ndarray:
    """The mean of `model`'s last hidden states over the tokens of one utterance, unpadded: (1, 1, hidden)."""
    device = next(model.parameters()).device
    enc = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    hidden = model(**enc).last_hidden_state[0]
    return hidden.mean(dim=0).float().cpu().numpy()[None, None, :]


class TextModel:
    """Runner model (melt.compute.runner) of a TextEncoder: texts in, (1, 1, hidden) vectors out. `device` is
    resolved in the process that runs it (`auto`: its GPU, if it has one)."""

    def __init__(self, model_id: str, revision: str | None = None, max_length: int = 128, device: str = "cpu"):
        from melt.compute.device import resolve_device

        self.encoder = TextEncoder(model_id, revision, max_length, device=resolve_device(device, "erc.device"))
        self.info = self.encoder.info

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        return [self.encoder.embed(t) for t in texts]


def fingerprint(model_id: str, revision: str | None, model, missing: set[str], tokenizer, max_length: int) -> dict:
    """What decides the embeddings (melt.fingerprint: keyed) — config, the weights the checkpoint provides,
    tokenizer, pooling, max length — and where the model came from (recorded, not keyed: id or folder, requested
    revision, resolved commit). Weights the checkpoint lacks (e.g. the pooler AutoModel adds to a sequence
    classifier's encoder) are initialised at random on every load and never reach the last hidden states: they are
    left out, so the fingerprint is the same from one load to the next."""
    return model_fingerprint(model, skip=missing, id=model_id, revision=revision,
                             tokenizer_sha256=_tokenizer_sha256(tokenizer), pooling=POOLING, max_length=max_length)


def _tokenizer_sha256(tokenizer) -> str:
    """What decides the token ids: the fast tokenizer's full serialisation (vocabulary, merges, normaliser,
    pre-tokeniser, post-processor), else the vocabulary. Paths and names are not part of it."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
