"""Frozen SSL backbones from the Hub or a local folder: load them, fingerprint them, pool their layers.

`layer_means(model, wave)` is the feature the cache stores: for every hidden state (the CNN-projected
input and each transformer layer) the mean over frames. Running one utterance at a time needs no padding,
so this is exactly masked mean pooling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melt.fingerprint import model_fingerprint
from melt.compute.registry import BackboneSpec


def load_backbone(spec: BackboneSpec, finetune: bool = False, device: str | torch.device = "cpu"):
    """The model behind `spec`, through `from_pretrained` (Hub id or local folder).

    LayerDrop and time masking are switched off: LayerDrop changes the number of hidden states and the
    weighted layer sum needs all of them (DESIGN.md)."""
    from transformers import AutoModel, Wav2Vec2Model

    cls = Wav2Vec2Model if spec.loader == "wav2vec2" else AutoModel
    model = cls.from_pretrained(spec.id, revision=spec.revision, layerdrop=0.0, mask_time_prob=0.0)
    model.to(device)
    if finetune:
        model.train()
        # The CNN feature encoder stays frozen, as is usual when fine-tuning wav2vec2-style models.
        if hasattr(model, "freeze_feature_encoder"):
            model.freeze_feature_encoder()
    else:
        model.eval()
        model.requires_grad_(False)
    return model


def fingerprint(spec: BackboneSpec, model, normalized: bool) -> dict:
    """What determines the backbone's outputs: config, weights, input normalisation (keyed); id, requested revision,
    resolved commit (recorded, not keyed: melt.fingerprint)."""
    return model_fingerprint(model, id=spec.id, revision=spec.revision, normalized_input=normalized)


def frame_mask(model, lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B, T) boolean mask of the frames that come from real samples (not padding)."""
    frames = model._get_feat_extract_output_lengths(lengths)
    return torch.arange(n_frames, device=lengths.device)[None, :] < frames[:, None]


def takes_attention_mask(model) -> bool:
    """wav2vec2-base-style models (group norm in the CNN) were trained without an attention mask."""
    return getattr(model.config, "feat_extract_norm", "layer") == "layer"


def hidden_states(model, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked hidden states (B, L, T, D) of a zero-padded batch, and the frame mask (B, T)."""
    attention = (torch.arange(waves.shape[1], device=waves.device)[None, :] < lengths[:, None]).long()
    kwargs = {"attention_mask": attention} if takes_attention_mask(model) else {}
    out = model(waves, output_hidden_states=True, **kwargs)
    states = torch.stack(out.hidden_states, dim=1)
    return states, frame_mask(model, lengths, states.shape[2])


def wants_normalized_input(spec: BackboneSpec) -> bool:
    """Whether the model's feature extractor normalises each waveform (zero mean, unit variance)."""
    from transformers import AutoFeatureExtractor

    local = Path(spec.id)
    if local.is_dir() and not (local / "preprocessor_config.json").is_file():
        return False   # a saved model without a feature extractor (e.g. tiny test models)
    # Anything else (a Hub id unreachable offline, a broken config) must fail, not silently skip normalisation.
    extractor = AutoFeatureExtractor.from_pretrained(spec.id, revision=spec.revision)
    return bool(getattr(extractor, "do_normalize", False))


def normalize(wave: np.ndarray) -> np.ndarray:
    """Wav2Vec2FeatureExtractor's zero-mean unit-variance normalisation."""
    return (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)


def load_waves(paths, spec: BackboneSpec) -> list[np.ndarray]:
    """Whole waveforms as the backbone expects them (normalised when its feature extractor does)."""
    from melt.data.audio import load_audio

    norm = wants_normalized_input(spec)
    return [normalize(w) if norm else w for w in (load_audio(p) for p in paths)]


@torch.inference_mode()
def layer_means(model, wave: np.ndarray) -> np.ndarray:
    """(L, D) float32: per-layer mean over the frames of one whole (unpadded) waveform."""
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None].to(device)
    out = model(x, output_hidden_states=True)
    return torch.stack([h[0].mean(dim=0) for h in out.hidden_states]).float().cpu().numpy()
