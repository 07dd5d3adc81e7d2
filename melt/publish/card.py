"""The dataset card: YAML header the Hub and `datasets` read (configs, features), body from a Jinja template."""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

TEMPLATE = Path(__file__).with_name("card_template.md")


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def card_data(dsd: DatasetDict, data_files: dict[str, str], pretty_name: str, license: str) -> DatasetCardData:
    data = DatasetCardData(
        language=["en"], license=license, pretty_name=pretty_name,
        task_categories=["text-classification", "audio-classification"],
        annotations_creators=["machine-generated"], language_creators=["found"],
        multilinguality=["monolingual"], source_datasets=["extended|meld"],
        size_categories=[size_category(sum(len(d) for d in dsd.values()))],
        tags=["emotion", "speech-emotion-recognition", "llm-annotation", "meld", "melt"],
    )
    MetadataConfigs({"default": {"data_files": [{"split": s, "path": p} for s, p in data_files.items()]}}
                    ).to_dataset_card_data(data)
    splits = SplitDict()
    for name, ds in dsd.items():
        splits.add(SplitInfo(name=name, num_bytes=ds.data.nbytes, num_examples=len(ds)))
    info = DatasetInfo(features=next(iter(dsd.values())).features, splits=splits)
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return data


def render_card(data: DatasetCardData, **context) -> str:
    return str(DatasetCard.from_template(data, template_path=str(TEMPLATE), **context))
