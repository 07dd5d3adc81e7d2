"""The whole params.yaml as one validated, immutable object, and its generated reference.

Stage scripts do not import this module (it imports every section's params): they load their own
sections with `melt.params_base.stage_params`. `python -m melt.config --markdown | --yaml | --check`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from melt.acoustics.params import AcousticsParams
from melt.analysis.params import AnalyzeParams, DeriveParams
from melt.annotate.params import AnnotateParams, PromptsParams
from melt.compute.params import ComputeParams
from melt.data.params import DataParams, PrepareParams
from melt.erc.params import ErcParams
from melt.params_base import ParamsError, Section, describe_error, read_params_file
from melt.pretrain.params import AsrParams, PretrainParams, PseudolabelParams, TextParams
from melt.publish.params import PublishParams
from melt.ser.params import SerParams
from melt.study.params import StudyParams


class Params(Section):
    data: DataParams = Field(default_factory=DataParams, description=(
        "The MELD-format corpus the pipeline reads: the embedded demo sitcom or MELD (docs/data.md)."))
    prepare: PrepareParams = Field(default_factory=PrepareParams, description=(
        "Stage `prepare`: ingestion and the paper's filter (docs/data.md)."))
    prompts: PromptsParams = Field(default_factory=PromptsParams, description=(
        "Stage `prompts`: one LLM request per annotator, utterance and sample, from each annotator's versioned "
        "template (docs/annotate.md)."))
    annotate: AnnotateParams = Field(default_factory=AnnotateParams, description=(
        "Stage `annotate`: the annotator panel (each annotator's backend, input, prompt, sampling, limits), the "
        "aggregation `derive` applies, prices and the answer store (docs/annotate.md)."))
    derive: DeriveParams = Field(default_factory=DeriveParams, description=(
        "Stage `derive`: annotations → MELT CSVs, majority vote over samples (docs/melt-dataset.md)."))
    analyze: AnalyzeParams = Field(default_factory=AnalyzeParams, description=(
        "Stage `analyze`: label statistics and agreement (docs/melt-dataset.md)."))
    publish: PublishParams = Field(default_factory=PublishParams, description=(
        "Stage `publish`: the Hugging Face dataset repository and the optional push (docs/publish.md)."))
    acoustics: AcousticsParams = Field(default_factory=AcousticsParams, description=(
        "Stage `acoustics`: the LLM's voice descriptions vs eGeMAPS measurements (docs/acoustics.md)."))
    ser: SerParams = Field(default_factory=SerParams, description=(
        "Stages `features`, `train`, `evaluate`, `report`: speech emotion recognition (docs/ser.md)."))
    study: StudyParams = Field(default_factory=StudyParams, description=(
        "Stages `study_set`, `study_report`, `review_apply` and the `melt-study` app: the preference test and "
        "the review of disagreements (docs/study.md)."))
    pretrain: PretrainParams = Field(default_factory=PretrainParams, description=(
        "The unlabelled speech corpus of text pre-training, MERITS-L part 1 (docs/pretrain.md)."))
    asr: AsrParams = Field(default_factory=AsrParams, description=(
        "Stage `transcribe`: provided transcripts or Whisper, with a shared transcript store (docs/pretrain.md)."))
    pseudolabel: PseudolabelParams = Field(default_factory=PseudolabelParams, description=(
        "Stage `pseudolabel`: LLM sentiment (or emotion) pseudo-labels of the transcripts through the annotation "
        "engine and answer store (docs/pretrain.md)."))
    text: TextParams = Field(default_factory=TextParams, description=(
        "Stage `pretrain_text`: the utterance-level text model fine-tuned on the pseudo-labels (docs/pretrain.md)."))
    erc: ErcParams = Field(default_factory=ErcParams, description=(
        "Stages `erc_data`, `erc_embed`, `erc_train`, `erc_evaluate`, `erc_report`: dialogue-level speech–text "
        "emotion recognition, MERITS-L part 2 (docs/erc.md)."))
    compute: ComputeParams = Field(default_factory=ComputeParams, description=(
        "Where the stages that run a model over every file run: this machine or a Ray cluster, and what each model "
        "instance asks for (docs/scale.md)."))


def parse_params(raw: dict | None, source: str = "params") -> Params:
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(describe_error(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """The whole params file, validated (tools and tests; stage scripts load their sections with
    `melt.params_base.stage_params`)."""
    return parse_params(read_params_file(path), str(Path(path)))


def main(argv: list[str] | None = None) -> int:
    """`python -m melt.config --markdown | --yaml | --check [params.yaml]`."""
    import argparse
    import sys

    from melt.params_docs import default_yaml, markdown

    parser = argparse.ArgumentParser(prog="python -m melt.config", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--markdown", action="store_true", help="print the params reference (docs/params.md)")
    mode.add_argument("--yaml", action="store_true", help="print params.yaml with every key at its default")
    mode.add_argument("--check", metavar="PATH", nargs="?", const="params.yaml", help="validate a params file")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown(Params))
    elif args.yaml:
        sys.stdout.write(default_yaml(Params))
    else:
        try:
            load_params(args.check)
        except ParamsError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{args.check}: valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
