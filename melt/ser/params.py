"""Params of the speech emotion recognition stages (`features`, `ser`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from melt.params_base import Section
from melt.compute.registry import BACKBONES, EGEMAPS, BackboneSpec, check_name


class CorpusPath(Section):
    """Where one evaluation corpus lives."""

    path: Path | None = Field(None, description="Root folder of the corpus in its release layout (docs/ser.md); "
                                                "null = not available (an error if the corpus is in `eval_corpora`).")


def _corpus(layout: str, default: Path | None = None):
    return Field(default_factory=lambda: CorpusPath(path=default), description=f"{layout}.")


class CorporaParams(Section):
    """Evaluation corpora for cross-corpus SER; only those listed in `ser.eval_corpora` are read."""

    iemocap: CorpusPath = _corpus("IEMOCAP: the `IEMOCAP_full_release/` folder (4 classes, happy + excited → joy)")
    tess: CorpusPath = _corpus("TESS: the folder of `<SPK>_<emotion>/` folders (7 classes, pleasant surprise → "
                               "surprise)")
    ravdess: CorpusPath = _corpus("RAVDESS: the folder of `Actor_XX/` folders (7 classes, calm dropped, songs "
                                  "excluded)")
    cremad: CorpusPath = _corpus("CREMA-D: the `AudioWAV/` folder (6 classes)")
    acted: CorpusPath = _corpus("The embedded demo acted corpus (TESS layout)", Path("demo/acted"))
    cmumosi: CorpusPath = _corpus("CMU-MOSI: the raw release folder (`Audio/WAV_16000/Segmented/`, "
                                  "`Transcript/Segmented/`, `Labels/`); read by the ERC stages only (docs/erc.md)")


class SerParams(Section):
    """Speech emotion recognition (stages `features` and `ser`; paper Table 3), docs/ser.md."""

    backbones: tuple[str, ...] = Field(
        ("egemaps",), description="Backbone short names: `wav2vec2-base`, `wav2vec2-large-robust-emo`, "
                                  "`hubert-base`, `wavlm-base-plus` (the paper's four, Hub weights), `egemaps` "
                                  "(openSMILE eGeMAPSv02 functionals, offline), or names from `extra_backbones`.")
    extra_backbones: dict[str, BackboneSpec] = Field(
        default_factory=dict, description="More backbones: name → {id: Hub id or local `save_pretrained` folder, "
                                          "revision: Hub branch/tag/commit or null, loader: auto | wav2vec2}.")
    label_sets: tuple[Literal["melt", "meld"], ...] = Field(
        ("melt", "meld"), description="Training labels: `melt` = `llm_label`, `meld` = `Emotion` of data/melt/*.csv.")
    eval_corpora: tuple[Literal["iemocap", "tess", "ravdess", "cremad", "acted"], ...] = Field(
        ("acted",), description="Cross-corpus evaluation targets, each scored by a head restricted to its "
                                     "classes; the in-domain MELT test split is always evaluated.")
    corpora: CorporaParams = Field(default_factory=CorporaParams,
                                   description="Folder of each evaluation corpus.")
    finetune: bool = Field(False, description="true: fine-tune backbone + head end to end (CNN encoder frozen, "
                                              "fresh random crop every epoch, no feature cache); false: frozen "
                                              "backbone, heads trained on cached features.")
    crop_s: float = Field(5.0, gt=0, description="Training crop length in seconds (paper: 5 s); shorter utterances "
                                                 "are used whole. Evaluation uses whole utterances.")
    train_crops: int = Field(1, ge=1, description="Cached seeded crops per training utterance longer than `crop_s`; "
                                                  "one is drawn per epoch (frozen backbones only).")
    hidden_size: int = Field(256, ge=1, description="Hidden units of the head's MLP (not given in the paper).")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout between the MLP layers (paper: 0.2).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (paper: 1e-3).")
    batch_size: int = Field(32, ge=1, description="Training batch size (paper: 32).")
    epochs: int = Field(100, ge=1, description="Training epochs (paper: 100).")
    seed: int = Field(0, description="Seed of weight initialisation, batch order and crop draws: the same seed "
                                     "gives bit-identical checkpoints on the CPU.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Feature extraction (in each model instance, `compute.features`) and training: `auto`: a "
                            "GPU when present (`accelerate launch` spreads training over several); `cpu`: force the "
                            "CPU; `cuda`: a GPU or an error.")
    feature_cache_dir: Path | None = Field(
        Path("cache/ser-features"),
        description="Content-addressed store of pooled backbone features (backbone fingerprint × crop policy × audio "
                    "sha256), shared by every run: a relative path is under the repository root ($DVC_ROOT inside "
                    "`dvc exp run`). null: no shared store (every run extracts what its output needs).")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; null: $MLFLOW_TRACKING_URI, else sqlite:///<repository root>/mlflow.db "
                          "(one store for the workspace and every experiment).")
    mlflow_experiment: str = Field("melt-ser", description="MLflow experiment of the training runs.")

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
