"""SER fine-tuning: a backbone and the weighted-layer head (melt.compute.heads) trained end to end."""

from __future__ import annotations

import torch
from torch import nn

from melt.compute.heads import WeightedLayerHead


class FineTunedSer(nn.Module):
    """Backbone + head trained end to end on padded waveform batches (`ser.finetune: true`)."""

    def __init__(self, backbone: nn.Module, head: WeightedLayerHead):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        from melt.compute.backbones import hidden_states

        states, mask = hidden_states(self.backbone, waves, lengths)
        return self.head.forward_hidden(states, mask)
