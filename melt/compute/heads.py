"""The weighted-layer head shared by SER and ERC (the paper's SER head): softmax-normalised layer weights →
masked mean pooling → Linear–ReLU–Dropout–Linear.

Weighted sum over layers and mean over frames are both linear, so they commute:
    mean_t Σ_l w_l h[l, t] = Σ_l w_l mean_t h[l, t].
`forward_hidden` takes hidden states (fine-tuning, or a check of that identity); `forward_pooled` takes the
per-layer means that the feature cache stores — for a frozen backbone the two are the same function.
"""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, T, D) hidden states, (B, T) frame mask → (B, L, D) per-layer means over the real frames."""
    weights = mask.to(states.dtype)[:, None, :, None]
    return (states * weights).sum(dim=2) / weights.sum(dim=2).clamp_min(1.0)


class WeightedLayerHead(nn.Module):
    def __init__(self, layers: int, dim: int, hidden: int, classes: int, dropout: float = 0.2):
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(layers))  # softmax → uniform weights at start
        # Per-layer standardisation with training statistics (identity unless set: used for eGeMAPS).
        self.register_buffer("feature_mean", torch.zeros(layers, dim))
        self.register_buffer("feature_std", torch.ones(layers, dim))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes))

    @property
    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits, dim=0)

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-6))

    def forward_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, L, D) per-layer pooled vectors → (B, classes) logits."""
        pooled = (pooled - self.feature_mean) / self.feature_std
        mixed = (self.layer_weights[None, :, None] * pooled).sum(dim=1)
        return self.mlp(mixed)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.forward_pooled(pooled)

    def forward_hidden(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, T, D) hidden states + (B, T) frame mask → logits: weighted sum, then masked mean pooling."""
        standardized = (states - self.feature_mean[None, :, None, :]) / self.feature_std[None, :, None, :]
        mixed = (self.layer_weights[None, :, None, None] * standardized).sum(dim=1)  # (B, T, D)
        w = mask.to(mixed.dtype)[:, :, None]
        pooled = (mixed * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
        return self.mlp(pooled)
