"""Evaluation protocols: which test turns a score is computed on. Every metric file, report and table row names its
protocol, and a paper number is shown only beside a row whose protocol is the paper's.

- `all`: every labelled test turn of the dataset — MELD: every utterance of the official test split (2,610), MELD's
  labels; IEMOCAP: the test session's turns with one of the 4 classes; CMU-MOSI: the segments of the 31 test videos
  of the standard folds. Not for MELT labels, which exist only on the MELT subset.
- `melt_subset` (MELD-format corpora): the test turns of the MELT subset — those the MELT paper's filter keeps
  (≥ 1 s, ≥ 3 words, named speakers: `data/prepared/test.csv`), fixed by the corpus and the `prepare` params, not by
  an annotation run — each scored against the model's own label set, whole dialogues kept as context. The
  protocol on which a MELT-labelled and a MELD-labelled model are compared. (With MELT labels, a subset turn whose
  LLM answer is not one of the seven has no reference label and is not scored: `report.json` counts them.)
"""

from __future__ import annotations

import pandas as pd

from melt.erc.params import ErcParams

ALL = "all"
SUBSET_ONLY_LABELS = ("melt",)   # label sets defined only on a subset: no `all` protocol


def subset_protocol(subset: str) -> str:
    return f"{subset}_subset"


def protocol_rows(labels: str, table: pd.DataFrame) -> dict[str, pd.Series]:
    """Protocol → boolean mask of the `table` rows (test turns, with `label` and `subset`) it scores."""
    labelled = table["label"].notna()
    out = {} if labels in SUBSET_ONLY_LABELS else {ALL: labelled}
    for subset in sorted(set(table["subset"].dropna())):
        out[subset_protocol(subset)] = labelled & (table["subset"] == subset)
    return out


def shared_protocol(dataset: str) -> str:
    """The protocol every label set of a dataset is scored under (MELD-format corpora: the MELT subset; others:
    `all`): where a MELT-labelled and a MELD-labelled model meet in `dvc exp show`."""
    return subset_protocol("melt") if dataset in ("demo", "meld") else ALL


def describe(dataset: str, labels: str, protocol: str, erc: ErcParams) -> str:
    if protocol == subset_protocol("melt"):
        return ("test turns of the MELT subset (kept by the MELT paper's filter: ≥ 1 s, ≥ 3 words, named "
                f"speakers), whole dialogues as context; {labels.upper()} labels")
    if dataset in ("demo", "meld"):
        return f"every utterance of the test split; {labels.upper()} labels"
    if dataset == "iemocap":
        return f"{erc.iemocap.describe()}; 4 classes"
    if dataset == "cmumosi":
        return "standard CMU-MultimodalSDK folds (31 test videos); binary, has-0"
    return protocol


def is_paper_protocol(dataset: str, labels: str, protocol: str, erc: ErcParams) -> bool:
    """Whether a row is scored as MERITS-L scored it (test split, label set, classes): MELD's whole test split with
    its human labels; IEMOCAP Session 5 with 4 classes; CMU-MOSI's standard test folds."""
    if protocol != ALL:
        return False
    if dataset == "iemocap":
        return labels == "emo4" and erc.iemocap.test_session == 5
    return (dataset, labels) in (("meld", "meld"), ("cmumosi", "binary"))
