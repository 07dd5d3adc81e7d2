"""Params of the speech emotion recognition stages (`features`, `train`, `evaluate`, `report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from melt.params_base import Section
from melt.ser.registry import BACKBONES, EGEMAPS, BackboneSpec, check_name


class CorpusPath(Section):
    # Root folder of the corpus in its standard release layout; null = not available.
    path: Path | None = None


class CorporaParams(Section):
    iemocap: CorpusPath = Field(default_factory=CorpusPath)     # IEMOCAP_full_release/
    tess: CorpusPath = Field(default_factory=CorpusPath)        # TESS Toronto emotional speech set data/
    ravdess: CorpusPath = Field(default_factory=CorpusPath)     # Audio_Speech_Actors_01-24/
    cremad: CorpusPath = Field(default_factory=CorpusPath)      # AudioWAV/
    demo_acted: CorpusPath = Field(default_factory=lambda: CorpusPath(path=Path("demo/acted")))


class SerParams(Section):
    # Short names from melt.ser.registry.BACKBONES or from `extra_backbones`.
    backbones: tuple[str, ...] = ("egemaps",)
    # More short names → {id: Hub id or local folder, revision, loader}.
    extra_backbones: dict[str, BackboneSpec] = Field(default_factory=dict)
    # Training labels: melt = llm_label, meld = Emotion of data/melt/*.csv.
    label_sets: tuple[Literal["melt", "meld"], ...] = ("melt", "meld")
    # Cross-corpus evaluation targets (each gets a head restricted to its classes); the in-domain test
    # split is always evaluated.
    eval_corpora: tuple[Literal["iemocap", "tess", "ravdess", "cremad", "demo_acted"], ...] = ("demo_acted",)
    corpora: CorporaParams = Field(default_factory=CorporaParams)
    # Fine-tune the backbone (LayerDrop off); false = frozen backbone + feature cache.
    finetune: bool = False
    # Training crop/pad length (s); evaluation uses whole utterances.
    crop_s: float = Field(5.0, gt=0)
    # Cached training crops per utterance longer than crop_s (seeded offsets); one is drawn per epoch.
    train_crops: int = Field(1, ge=1)
    # Head and optimiser (paper: Adam, lr 1e-3, batch 32, dropout 0.2, 100 epochs).
    hidden_size: int = Field(256, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(100, ge=1)
    seed: int = 0
    # auto: GPU when present (accelerate handles multi-GPU launches); cpu forces the CPU.
    device: Literal["auto", "cpu"] = "auto"
    # openSMILE worker processes for the egemaps backbone.
    egemaps_workers: int = Field(2, ge=1)
    # null: $MLFLOW_TRACKING_URI, else sqlite:///<repository root>/mlflow.db (see README).
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = "melt-ser"

    @field_validator("extra_backbones")
    @classmethod
    def _extra_names(cls, v):
        for name in v:
            check_name(name)
            if name in BACKBONES:
                raise ValueError(f"{name!r} is already a registered backbone")
        return v

    @model_validator(mode="after")
    def _known_backbones(self):
        known = {**BACKBONES, **self.extra_backbones}
        for name in self.backbones:
            if name not in known:
                raise ValueError(f"ser.backbones: unknown backbone {name!r} (known: {', '.join(known)}; "
                                 f"add Hub ids or local folders under ser.extra_backbones)")
        if self.finetune and any(known[name].id == EGEMAPS for name in self.backbones):
            raise ValueError("ser.finetune: eGeMAPS has no weights to fine-tune; drop egemaps from ser.backbones "
                             "or set ser.finetune: false")
        return self

    def backbone_spec(self, name: str) -> BackboneSpec:
        known = {**BACKBONES, **self.extra_backbones}
        if name not in known:
            raise ValueError(f"unknown backbone {name!r} (known: {', '.join(known)})")
        return known[name]
