"""Params of text pre-training from unlabelled speech (MERITS-L part 1): `pretrain`, `asr`, `pseudolabel`, `text`.

Defaults run offline on the demo podcast; docs/pretrain.md gives the paper's override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from melt.annotate.params import EngineLimits, LLMParams, Price, RunKnobs
from melt.params_base import Section


class CorpusParams(Section):
    name: Literal["demo", "msp_podcast", "folder"] = Field(
        "demo", description="Reader of the unlabelled corpus, also the name of its outputs "
        "(`data/transcripts/<name>.csv`): `demo` (demo/podcast, MSP-Podcast layout), `msp_podcast` "
        "(`Audios/*.wav` + `Transcripts/<stem>.txt`; `Labels/` ignored), `folder` (any audio files, recursive, "
        "optional sidecar `<stem>.txt` transcripts).")
    path: Path | None = Field(
        None, description="Corpus root folder; null = `demo/podcast` for `demo` (required for the others).")


class PretrainParams(Section):
    corpus: CorpusParams = Field(default_factory=CorpusParams, description="The unlabelled speech corpus.")
    max_items: int | None = Field(
        None, ge=1, description="Use only the first N audio files in path order (the rest are listed as "
        "excluded); null = all.")


class AsrParams(Section):
    backend: Literal["provided", "whisper"] = Field(
        "provided", description="`provided`: the corpus's own transcripts (items without one are excluded); "
        "`whisper`: transcribe the audio with `asr.model`.")
    model: str = Field(
        "openai/whisper-large-v3", description="Whisper model: a Hub id or a local `save_pretrained` folder "
        "(model + processor).")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit); null = the default branch.")
    use_provided: bool = Field(
        False, description="With `whisper`: keep the corpus's transcript where one exists and transcribe only "
        "the rest (false = transcribe every file, as the paper).")
    language: str | None = Field(
        "en", description="Language token forced on the decoder (`en`, `english`...); null = Whisper detects it.")
    batch_size: int = Field(8, ge=1, description="30-second chunks decoded together.")
    chunk_s: float = Field(
        30.0, gt=1, le=30, description="Longer audio is cut into chunks of at most this many seconds (at the "
        "quietest 20 ms near each boundary) whose transcripts are joined; Whisper's window is 30 s.")
    max_new_tokens: int = Field(
        440, ge=1, description="Decoding limit per chunk (Whisper's decoder holds 448 positions, 4 go to the prompt).")
    num_beams: int = Field(1, ge=1, description="Beam search width (1 = greedy, as Whisper's default).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="`auto`: the GPU when present (under `compute.engine: ray`: when the `compute.transcribe` "
                            "actors ask for one), else the CPU; `cuda`: a GPU or an error.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="Weights' dtype: `auto` = float16 on a GPU, float32 on the CPU.")
    cache_dir: str = Field(
        "cache/transcripts", description="Transcript store shared by every run and experiment, relative to the "
        "repository root: one JSON per (model fingerprint, audio sha256).")


SENTIMENTS = ("negative", "neutral", "positive")

PSEUDOLABEL_PRICES = {"gpt-3.5-turbo": Price(input_per_1m=0.50, output_per_1m=1.50)}


class PseudolabelParams(RunKnobs, EngineLimits, LLMParams):
    """The annotation engine's params (backend, model, limits, retries, samples, prices...) plus the template:
    one annotator, as an entry of `annotate.annotators` has, with the run-wide knobs beside it.

    Only the defaults differ from `annotate`: the paper's LLM (GPT-3.5-turbo) and a one-word answer."""

    backend: Literal["offline", "openai", "openai-batch", "labels-file"] = Field("offline", description=(
        "`offline`: a baseline, not an LLM (VADER for `labels: sentiment`, the rule-based text heuristic for "
        "`emotion`); `openai`: chat completions on any OpenAI-compatible server; `openai-batch`: the OpenAI "
        "Batch API. (`labels-file` is refused: it imports MELT labels.)"))
    store: None = Field(None, description="Not used: pseudo-labels share the repository's one answer store, "
                        "`annotate.store`.")
    template: str = Field(
        "merits-sentiment-v1", pattern=r"^[A-Za-z0-9._-]+$",
        description="Prompt template `prompts/<template>.txt`: `merits-sentiment-v1` (the paper's 3-way "
        "sentiment prompt, `${utterance}` = the transcript) or `melt-v1` (MELT's 7 emotions).")
    labels: Literal["sentiment", "emotion"] = Field(
        "sentiment", description="Answer validation and label set: `sentiment` = one word, positive / negative / "
        "neutral; `emotion` = MELT's JSON answer, 7 emotions. Offline, `sentiment` is answered by VADER "
        "(a lexicon baseline) and `emotion` by the rule-based heuristic; neither is an LLM.")
    show: str = Field(
        "a podcast", description="`${show}` of a MELT-style template (the podcast has no show, season or episode: "
        "speaker `Speaker`, season 1, episode 1 are rendered).")
    model: str = Field("gpt-3.5-turbo", description="The LLM (the paper: GPT-3.5-turbo).")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (the paper does not say; 0 = "
                               "the most likely label).")
    max_tokens: int = Field(10, ge=1, description="Answer length limit (one word is asked for).")
    expected_completion_tokens: int = Field(2, ge=0, description="Completion tokens per request assumed by "
                                            "`dry_run` estimates (one word).")
    response_format: Literal["json_schema", "json_object", "none"] = Field(
        "none", description="`none` for the one-word sentiment answer; `json_object` for `labels: emotion`.")
    prices: dict[str, Price] = Field(
        default_factory=lambda: dict(PSEUDOLABEL_PRICES), description="USD per 1M tokens by model, for cost reports.")

    @model_validator(mode="after")
    def _no_labels_file(self):
        if self.backend == "labels-file":
            raise ValueError("pseudolabel.backend: labels-file is for MELT's released labels, not pseudo-labels")
        return self


class ScratchModelParams(Section):
    vocab_size: int = Field(2000, ge=10, description="Largest word-level vocabulary learnt from the training "
                            "transcripts (words seen once map to `<unk>`, so the model learns what unknown words mean).")
    hidden_size: int = Field(64, ge=8, description="Width of the randomly initialised RoBERTa-style encoder.")
    layers: int = Field(2, ge=1, description="Transformer layers.")
    heads: int = Field(2, ge=1, description="Attention heads (must divide hidden_size).")
    intermediate_size: int = Field(128, ge=8, description="Feed-forward width.")
    lr: float = Field(
        1e-3, gt=0, description="Used instead of `text.lr` for the scratch model: a randomly initialised encoder "
        "needs a larger step than fine-tuning a pre-trained one.")
    epochs: int = Field(30, ge=1, description="Used instead of `text.epochs` for the scratch model (a few hundred "
                        "demo items need more passes than 149k MSP-Podcast transcripts).")
    batch_size: int = Field(16, ge=1, description="Used instead of `text.batch_size` for the scratch model.")

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.hidden_size % self.heads:
            raise ValueError(f"text.scratch.heads ({self.heads}) must divide hidden_size ({self.hidden_size})")
        return self


class TextParams(Section):
    model: str = Field(
        "scratch", description="Text encoder to fine-tune: a Hub id or local folder (the paper: `roberta-large`), "
        "or `scratch`: a small RoBERTa-style model built from `text.scratch` with a tokenizer trained on the "
        "corpus (offline, no download).")
    revision: str | None = Field(None, description="Hub revision of `text.model`.")
    name: str = Field(
        "merits-text", pattern=r"^[A-Za-z0-9._-]+$",
        description="Output folder `models/text/<name>/` (the DVC artifact `merits-text` points at the default).")
    lr: float = Field(
        2e-5, gt=0, description="AdamW learning rate for a pre-trained `text.model`. The paper gives 1e-4; a public "
        "reproduction found 1e-4 unstable for RoBERTa-large and 2e-5 stable (issue 10), hence the default.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with a linear warm-up, then linear decay.")
    epochs: int = Field(10, ge=1, description="Training epochs (the paper: 10).")
    batch_size: int = Field(32, ge=1, description="Examples per step (the paper: 32).")
    max_length: int = Field(128, ge=8, description="Tokens per transcript (longer ones are truncated).")
    heldout_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of pseudo-labelled items held out for evaluation (the paper: 80/20), "
        "chosen by a hash of the item id, so an item keeps its side when the corpus grows.")
    seed: int = Field(0, description="Seed of initialisation, shuffling and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="`auto`: the GPU when present (`accelerate launch` spreads training over GPUs); `cpu` "
                            "forces the CPU; `cuda`: a GPU or an error.")
    mixed_precision: Literal["no", "fp16", "bf16"] = Field(
        "no", description="Mixed-precision training on a GPU (accelerate's autocast + loss scaling); ignored on the "
                          "CPU, where training stays float32 and bit-reproducible.")
    scratch: ScratchModelParams = Field(default_factory=ScratchModelParams,
                                        description="The offline model used when `text.model` is `scratch`.")
    mosi_csv: Path | None = Field(
        None, description="CMU-MOSI test segments as a CSV with columns `text` (the transcript) and `sentiment` "
        "(the opinion score in [-3, 3]): when set, a sentiment model is also scored on binary sentiment (Acc-2 and "
        "weighted F1, with and without the score-0 segments; docs/pretrain.md). null = not scored.")
    mlflow_tracking_uri: str | None = Field(
        None, description="null: $MLFLOW_TRACKING_URI, else `sqlite:///<repository root>/mlflow.db`.")
    mlflow_experiment: str = Field("melt-pretrain", description="MLflow experiment of the text models.")
