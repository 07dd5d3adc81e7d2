"""Params of the dialogue-level emotion recognition stages (`erc_data`, `erc_embed`, `erc_train`, `erc_evaluate`,
`erc_report`), docs/erc.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.params_base import Section

# Dataset → its label sets. MELD-format corpora (MELD, the demo sitcom) take MELT (LLM) or MELD (human) labels.
LABEL_SETS: dict[str, tuple[str, ...]] = {"demo": ("melt", "meld"), "meld": ("melt", "meld"),
                                          "iemocap": ("emo4",), "cmumosi": ("binary",)}
Dataset = Literal["demo", "meld", "iemocap", "cmumosi"]


class Schedule(Section):
    """Optimisation of one training stage (Adam); the epoch is chosen on the validation split."""

    epochs: int = Field(30, ge=1, description="Training epochs; the epoch with the best validation weighted F1 is "
                                          "kept (ties: the earlier one). The test split is never looked at.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    batch_dialogues: int = Field(8, ge=1, description="Dialogues per batch (all their turns; Stage I trains on "
                                                      "their labelled turns).")


def _schedule(what: str):
    return Field(default_factory=Schedule, description=what)


class IemocapSplit(Section):
    """IEMOCAP's split: one session is the test split (Session 5: the common ERC convention of DialogueRNN,
    DialogueGCN, COSMIC, MMGCN, docs/erc.md); validation is a seeded share of the other sessions' dialogues, or a
    whole session."""

    test_session: int = Field(5, ge=1, le=5, description="Session used as the test split (leave-one-session-out: "
                                                         "any of 1–5).")
    validation_session: int | None = Field(
        None, ge=1, le=5, description="null: validation is a seeded `validation_fraction` of the dialogues of the "
                                      "other four sessions (the common ERC convention; all four sessions train). A "
                                      "session number: that whole session is the validation split (the previous "
                                      "default, 1: models then train on three sessions); must differ from "
                                      "`test_session`.")
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="Share of the non-test dialogues held out for "
                                                                    "validation when `validation_session` is null.")
    validation_seed: int = Field(0, description="Seed of that choice (dialogues ranked by sha256 of seed and name: "
                                                "the same on every machine).")

    @model_validator(mode="after")
    def _distinct(self):
        if self.test_session == self.validation_session:
            raise ValueError("erc.iemocap: test_session and validation_session must differ")
        return self

    def describe(self) -> str:
        """The split as the report names it."""
        validation = (f"Session {self.validation_session} validation" if self.validation_session is not None else
                      f"{self.validation_fraction:.0%} of the other sessions' dialogues validation "
                      f"(seed {self.validation_seed})")
        return f"Session {self.test_session} test, {validation}"


class ErcParams(Section):
    """Dialogue-level speech–text emotion recognition (MERITS-L part 2), docs/erc.md."""

    datasets: dict[Dataset, str] = Field(
        default_factory=lambda: {"demo": "meld"},
        description="Dataset → label set; one model `models/erc/<dataset>_<labels>/` each. `demo` (the demo sitcom, "
                    "data.source demo) and `meld` (data.source meld): `melt` (llm_label) or `meld` (MELD's Emotion), "
                    "7 classes; `iemocap`: `emo4` (4 classes, happy + excited → joy); `cmumosi`: `binary` "
                    "(positive ≥ 0 / negative). Corpus folders: `ser.corpora.<dataset>.path`.")
    iemocap: IemocapSplit = Field(default_factory=IemocapSplit, description="IEMOCAP sessions of the test and "
                                                                            "validation splits.")
    text_model: str = Field(
        "models/text/merits-text",
        description="Utterance text encoder: a local `save_pretrained` folder or a Hub id, loaded with AutoModel "
                    "(a classifier's head is ignored). Default: the LLM-supervised text model of `pretrain_text`.")
    text_revision: str | None = Field(None, description="Hub revision of `text_model` (null: the default branch).")
    text_max_length: int = Field(128, ge=8, description="Tokens per utterance (longer ones are truncated).")
    text_finetune: bool = Field(
        False, description="Stage I text fine-tunes `text_model` end to end (encoder + mean pooling + classifier, "
                           "as the paper does) on each model's training turns, instead of training a classifier on "
                           "the frozen encoder's cached embeddings; Stage II/III then use the fine-tuned encoder's "
                           "embeddings, and the encoder is saved in the checkpoint (`text_encoder/`). Off in the "
                           "demo (speed); the paper's setup turns it on (docs/erc.md).")
    text_encoder_lr: float = Field(1e-5, gt=0, description="Learning rate (Adam) of the text encoder's weights when "
                                                           "`text_finetune` is on; its classifier uses `stage1.lr`.")
    speech_backbone: str = Field(
        "egemaps", description="Speech embeddings: a backbone name of the SER registry (`ser.backbones` names and "
                               "`ser.extra_backbones`), per-layer means over the whole utterance, shared with the "
                               "`features` stage through `ser.feature_cache_dir`. `egemaps` runs offline.")
    embedding_cache_dir: Path | None = Field(
        Path("cache/erc-embeddings"),
        description="Content-addressed store of text embeddings (model fingerprint × text sha256), shared by every "
                    "run and experiment: a relative path is under the repository root ($DVC_ROOT inside `dvc exp "
                    "run`). null: no shared store. Speech embeddings live in `ser.feature_cache_dir`.")
    utterance_hidden: int = Field(256, ge=1, description="Stage I: width of the utterance classifier's hidden "
                                                         "layer (its output is Stage II's input).")
    gru_hidden: int = Field(128, ge=1, description="Stage II: hidden units per direction of the bidirectional GRU.")
    gru_layers: int = Field(1, ge=1, description="Stage II: stacked GRU layers.")
    heads: int = Field(4, ge=1, description="Attention heads of Stage II's self-attention and Stage III's "
                                            "co-attention; must divide 2 × gru_hidden and fusion_hidden.")
    fusion_hidden: int = Field(128, ge=1, description="Stage III: width of the co-attention space and of the "
                                                      "fusion classifier's hidden layer.")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout in every stage (and between GRU layers).")
    stage1: Schedule = _schedule("Stage I: per-modality utterance classifier (weighted layer sum + FC).")
    stage2: Schedule = _schedule("Stage II: per-modality dialogue model (BiGRU + multi-head self-attention) on "
                                     "frozen Stage I representations.")
    stage3: Schedule = _schedule("Stage III: text↔audio co-attention fusion on frozen Stage II representations.")
    seed: int = Field(0, description="Seed of initialisation and batch order: the same seed gives bit-identical "
                                     "checkpoints on the CPU.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "cpu", description="Where training and `erc_embed`'s models run: `cpu` (bit-identical on every CPU), `auto` "
                           "(the GPU when present, for large corpora) or `cuda` (a GPU or an error). A GPU's bits are "
                           "not the CPU's (docs/scale.md).")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; null: $MLFLOW_TRACKING_URI, else sqlite:///<repository root>/mlflow.db.")
    mlflow_experiment: str = Field("melt-erc", description="MLflow experiment of the ERC training runs.")

    @model_validator(mode="after")
    def _check(self):
        for dataset, labels in self.datasets.items():
            if labels not in LABEL_SETS[dataset]:
                raise ValueError(f"erc.datasets.{dataset}: label set {labels!r} not available "
                                 f"(known for {dataset}: {', '.join(LABEL_SETS[dataset])})")
        for width, name in ((2 * self.gru_hidden, "2 × gru_hidden"), (self.fusion_hidden, "fusion_hidden")):
            if width % self.heads:
                raise ValueError(f"erc.heads ({self.heads}) must divide {name} ({width})")
        return self

    def model_name(self, dataset: str) -> str:
        """`<dataset>_<labels>`: the folder under models/erc/ and the name of its metrics."""
        return f"{dataset}_{self.datasets[dataset]}"
