"""What decides a pre-trained model's outputs, as a dict with a short `key` for content-addressed stores: shared
by the SER backbones, the Whisper transcriber and the ERC text encoder (each adds the settings that also decide
its outputs)."""

from __future__ import annotations

import hashlib
import json

import torch

# Config entries that name where or with what the model was loaded, not what it computes.
VOLATILE_CONFIG = ("_commit_hash", "transformers_version", "_name_or_path")


def weights_sha256(network, skip: set[str] | frozenset[str] = frozenset()) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        if name in skip:
            continue
        digest.update(name.encode())
        # the raw bytes, through uint8: numpy has no bfloat16
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_fingerprint(network, *, skip: set[str] | frozenset[str] = frozenset(), **settings) -> dict:
    """settings (model id, revision, …) + resolved commit, config and weights (those in `skip` left out) + key."""
    config = {k: v for k, v in network.config.to_dict().items() if k not in VOLATILE_CONFIG}
    info = {**settings, "commit": getattr(network.config, "_commit_hash", None),
            "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
            "weights_sha256": weights_sha256(network, skip)}
    info["key"] = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]
    return info
