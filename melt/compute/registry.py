"""Backbone registry: short names (used in params, paths and stage names) → where the model comes from."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from melt.params_base import Section

EGEMAPS = "egemaps"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class BackboneSpec(Section):
    """Where a backbone's weights come from."""

    id: str = Field(description="A Hugging Face Hub id, a local folder saved with `save_pretrained`, or `egemaps`.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit); null = the default branch.")
    loader: Literal["auto", "wav2vec2"] = Field(
        "auto", description="`auto`: AutoModel; `wav2vec2`: Wav2Vec2Model (drops a checkpoint's task head, e.g. "
                            "audeering's regression head).")


# The paper's four SSL backbones, plus eGeMAPS functionals as a classical, fully offline baseline.
BACKBONES: dict[str, BackboneSpec] = {
    "wav2vec2-base": BackboneSpec(id="facebook/wav2vec2-base-960h"),
    "wav2vec2-large-robust-emo": BackboneSpec(id="audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim",
                                              loader="wav2vec2"),
    "hubert-base": BackboneSpec(id="facebook/hubert-base-ls960"),
    "wavlm-base-plus": BackboneSpec(id="microsoft/wavlm-base-plus"),
    EGEMAPS: BackboneSpec(id=EGEMAPS),
}


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"backbone name {name!r}: use letters, digits, '_', '.', '-' (it names folders and stages)")
    return name

