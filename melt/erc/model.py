"""The three stages of the hierarchical ERC model (MERITS-L part 2), per modality then fused.

Stage I   UtteranceClassifier: softmax-weighted sum of an utterance's per-layer embeddings (the SER head,
          melt.compute.heads) → Linear → ReLU (the utterance representation) → Dropout → Linear.
Stage II  DialogueContext: a bidirectional GRU over a dialogue's frozen Stage I representations, then multi-head
          self-attention over the whole dialogue (no window), residual + LayerNorm (the contextual
          representation) → Dropout → Linear. Padding is masked: packed sequences for the GRU, a key padding mask
          for the attention, so a dialogue gets the same outputs alone or padded into a batch of longer ones.
Stage III CoAttentionFusion: frozen Stage II representations of both modalities projected to one width;
          text→audio and audio→text multi-head co-attention over the dialogue, each added to its queries;
          concatenated → Linear → ReLU → Dropout → Linear.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from melt.compute.heads import WeightedLayerHead


class UtteranceClassifier(WeightedLayerHead):
    """Stage I: `represent` gives the hidden layer that Stage II consumes."""

    def represent(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, layers, dim) → (B, hidden)."""
        pooled = (pooled - self.feature_mean) / self.feature_std
        mixed = (self.layer_weights[None, :, None] * pooled).sum(dim=1)
        return self.mlp[1](self.mlp[0](mixed))

    @property
    def hidden_size(self) -> int:
        return self.mlp[0].out_features


def padding_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, steps) True at padded positions."""
    return torch.arange(steps, device=lengths.device)[None, :] >= lengths[:, None]


def masked_attention(attention: nn.MultiheadAttention, query: torch.Tensor, keys: torch.Tensor,
                     ignore: torch.Tensor) -> torch.Tensor:
    """attention(query, keys, keys) with the `ignore` (B, T) keys masked out. A row with no key left (a dialogue
    with no turn of that modality) gets zeros instead of the NaN a fully masked softmax gives."""
    empty = ignore.all(dim=1)
    if empty.any():
        ignore = ignore.clone()
        ignore[empty, 0] = False
    out, _ = attention(query, keys, keys, key_padding_mask=ignore, need_weights=False)
    return out.masked_fill(empty[:, None, None], 0.0)


class DialogueContext(nn.Module):
    def __init__(self, in_dim: int, hidden: int, layers: int, heads: int, classes: int, dropout: float = 0.2):
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.attention = nn.MultiheadAttention(2 * hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(2 * hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, classes)

    @property
    def output_size(self) -> int:
        return self.norm.normalized_shape[0]

    def represent(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, in_dim) padded dialogues, (B,) lengths ≥ 1 → (B, T, 2 × hidden); padded steps are garbage."""
        steps = x.shape[1]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=steps)
        attended = masked_attention(self.attention, states, states, padding_mask(lengths, steps).to(x.device))
        return self.norm(states + self.dropout(attended))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.represent(x, lengths)))


class CoAttentionFusion(nn.Module):
    def __init__(self, text_dim: int, audio_dim: int, hidden: int, heads: int, classes: int, dropout: float = 0.2):
        super().__init__()
        self.text_in = nn.Linear(text_dim, hidden)
        self.audio_in = nn.Linear(audio_dim, hidden)
        self.text_to_audio = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.audio_to_text = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, classes))

    def forward(self, text: torch.Tensor, audio: torch.Tensor, text_ok: torch.Tensor,
                audio_ok: torch.Tensor) -> torch.Tensor:
        """(B, T, text_dim), (B, T, audio_dim), (B, T) availability masks (False at padding and at turns missing
        that modality) → (B, T, classes); only turns with both modalities are meaningful."""
        t, a = self.text_in(text), self.audio_in(audio)
        t_att = masked_attention(self.text_to_audio, t, a, ~audio_ok)
        a_att = masked_attention(self.audio_to_text, a, t, ~text_ok)
        return self.mlp(torch.cat([t + self.dropout(t_att), a + self.dropout(a_att)], dim=-1))
