"""melt.fingerprint, through its three callers (ERC text encoder, SER backbone, Whisper): the key is what decides the
outputs — config, weights, output settings — and not where the model was loaded from. The same model copied to
another folder keeps its key (and so its stored vectors / transcripts); other weights in the same folder do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from erc_helpers import tiny_text_model
from pretrain_helpers import tiny_whisper


def _perturb(folder: Path) -> None:
    """One weight of the saved model changed in place (same folder, same config)."""
    path = folder / "model.safetensors"
    weights = load_file(str(path))
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1.0
    save_file(weights, str(path), metadata={"format": "pt"})


def _text_key(folder: Path) -> dict:
    from melt.erc.text import TextEncoder

    return TextEncoder(str(folder)).info


def _ser_key(folder: Path) -> dict:
    from melt.compute.extractors import SslExtractor
    from melt.compute.registry import BackboneSpec

    return SslExtractor(BackboneSpec(id=str(folder))).info


def _whisper_key(folder: Path) -> dict:
    from melt.pretrain.whisper import Decoding, fingerprint, load_whisper

    model, _ = load_whisper(str(folder), None, "cpu", torch.float32)
    return fingerprint(str(folder), None, model, Decoding("en", 20, 1, 30.0))


def _tiny_ser(folder: Path) -> Path:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                                 conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                                 num_conv_pos_embedding_groups=2)).save_pretrained(folder)
    return folder


CALLERS = {
    "erc-text": (lambda f: tiny_text_model(f, ["a few words here", "and some more"]), _text_key, "id"),
    "ser-backbone": (_tiny_ser, _ser_key, "id"),
    "whisper": (tiny_whisper, _whisper_key, "model"),
}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_key_ignores_the_load_path_but_not_the_weights(caller, tmp_path):
    build, key_of, source = CALLERS[caller]
    first = build(tmp_path / "a")
    copy = Path(shutil.copytree(first, tmp_path / "elsewhere" / "b"))
    a, b = key_of(first), key_of(copy)
    assert a[source] == str(first) and b[source] == str(copy)         # where it came from: recorded ...
    assert a["key"] == b["key"]                                       # ... not keyed
    assert {k: v for k, v in a.items() if k != source} == {k: v for k, v in b.items() if k != source}
    _perturb(copy)
    changed = key_of(copy)
    assert changed["weights_sha256"] != a["weights_sha256"] and changed["key"] != a["key"]


def test_key_is_a_hash_of_everything_but_the_source():
    """Hand-computed: the key hashes the settings, config and weights hashes, never id/model/revision/commit."""
    import hashlib
    import json

    from transformers import BertConfig, BertModel

    from melt.fingerprint import model_fingerprint, weights_sha256

    torch.manual_seed(0)
    net = BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=8))
    info = model_fingerprint(net, id="/some/where", revision="main", pooling="mean")
    config = {k: v for k, v in net.config.to_dict().items()
              if k not in ("_commit_hash", "transformers_version", "_name_or_path")}
    keyed = {"pooling": "mean", "weights_sha256": weights_sha256(net),
             "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()}
    assert info["key"] == hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]
    assert info["id"] == "/some/where" and info["revision"] == "main" and "commit" in info
    assert model_fingerprint(net, id="/other", revision=None, pooling="mean")["key"] == info["key"]
    assert model_fingerprint(net, id="/some/where", revision="main", pooling="max")["key"] != info["key"]
