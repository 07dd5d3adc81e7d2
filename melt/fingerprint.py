"""What decides a pre-trained model's outputs, as a dict with a short `key` for content-addressed stores: shared
by the SER backbones, the Whisper transcriber and the ERC text encoder (each adds the settings that also decide
its outputs).

The key covers the config (less the entries that only say where and with what it was loaded), the weights and
the caller's output settings (tokenizer hash, pooling, dtype, decoding, ...). It does **not** cover where the
model came from — the id or local path it was loaded by, the requested revision, the resolved Hub commit
(`SOURCE`): the same weights and config at another path, or downloaded again, give the same outputs, so they get
the same key and reuse the stores (e.g. a model folder copied elsewhere, or a Hub model saved to disk). Those
entries are still recorded in the dict, for provenance; other weights at the same path get another key.
"""

from __future__ import annotations

import hashlib
import json

import torch

# Config entries that name where or with what the model was loaded, not what it computes.
VOLATILE_CONFIG = ("_commit_hash", "transformers_version", "_name_or_path")
# Fingerprint entries that say where the model came from: recorded, not part of the key. `id` / `model` are the
# names callers give the Hub id or local folder.
SOURCE = ("id", "model", "revision", "commit")


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
    """settings (model id or path, revision, output settings) + resolved commit, config and weights hashes (the
    weights in `skip` left out) + `key`: a hash of everything but the `SOURCE` entries."""
    config = {k: v for k, v in network.config.to_dict().items() if k not in VOLATILE_CONFIG}
    info = {**settings, "commit": getattr(network.config, "_commit_hash", None),
            "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
            "weights_sha256": weights_sha256(network, skip)}
    keyed = {k: v for k, v in info.items() if k not in SOURCE}
    info["key"] = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]
    return info
