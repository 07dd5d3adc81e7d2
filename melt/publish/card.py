"""The dataset card: YAML header the Hub and `datasets` read (configs, features), body from a Jinja template."""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

TEMPLATE = Path(__file__).with_name("card_template.md")
# The licence of each source's text and labels: the demo corpus is this repository's own (pyproject.toml,
# MIT); MELD is GPL-3.0, whose derivatives must stay GPL-3.0.
SOURCE_LICENSES = {"demo": "mit", "meld": "gpl-3.0"}
DEFAULT_TITLES = {"demo": "MELT pipeline demo: the embedded demo sitcom, offline annotation",
                  "meld": "MELT: LLM re-annotation of MELD"}


def resolve_license(source: str, configured: str | None) -> str:
    """publish.license, or the source's licence when null; a MELD build cannot be published under another."""
    own = SOURCE_LICENSES[source]
    if configured is None:
        return own
    if source == "meld" and configured != own:
        raise ValueError(f"publish.license is {configured!r}, but MELD is distributed under {own} and this "
                         f"dataset derives from it: set publish.license to {own} or null")
    return configured


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def card_data(configs: dict[str, tuple[DatasetDict, dict[str, str]]], pretty_name: str, license: str,
              source: str) -> DatasetCardData:
    """configs: name → (its splits, split → data file); `default` first, the one `load_dataset(repo)` reads."""
    dsd = configs["default"][0]
    # MELD's lines come from the show's subtitles; the demo's script was written for this project
    language_creators = ["found"] if source == "meld" else ["other"]
    data = DatasetCardData(
        language=["en"], license=license, pretty_name=pretty_name,
        task_categories=["text-classification", "audio-classification"],
        annotations_creators=["machine-generated"], language_creators=language_creators,
        multilinguality=["monolingual"], source_datasets=["extended|meld"] if source == "meld" else ["original"],
        size_categories=[size_category(sum(len(d) for d in dsd.values()))],
        tags=["emotion", "speech-emotion-recognition", "llm-annotation", "meld", "melt"],
    )
    MetadataConfigs({name: {"data_files": [{"split": s, "path": p} for s, p in files.items()]}
                     for name, (_, files) in configs.items()}).to_dataset_card_data(data)
    infos = {}
    for name, (splits_of, _) in configs.items():
        splits = SplitDict()
        for split, ds in splits_of.items():
            splits.add(SplitInfo(name=split, num_bytes=ds.data.nbytes, num_examples=len(ds)))
        infos[name] = DatasetInfo(features=next(iter(splits_of.values())).features, splits=splits)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


def render_card(data: DatasetCardData, **context) -> str:
    return str(DatasetCard.from_template(data, template_path=str(TEMPLATE), **context))
