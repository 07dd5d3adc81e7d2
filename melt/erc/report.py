"""The `erc_report` stage: every model's test scores beside the paper's, and the headline metrics.

- `metrics/erc.json` (DVC metrics, `dvc exp show`; at most 4 per dataset): per dataset, under the protocol every
  label set shares (melt.erc.protocols.shared_protocol: `melt_subset` for MELD-format corpora, else `all`), the
  weighted F1 of `fusion`, `text` (Stage II) and `audio` (Stage II), and under any other protocol (MELD labels:
  `all`, every test utterance) the `fusion` one (CMU-MOSI: has-0 weighted F1). Keyed by dataset and protocol, not
  by label set, so that experiments with MELT and with MELD labels (`-S erc.datasets.demo=melt`) line up in the
  same `melt_subset` columns; the label set is the `erc.datasets.<dataset>` param column.
- `metrics/erc_table.md` / `.csv`: the five models of every trained dataset in %, a row per protocol, and the
  MERITS-L paper's numbers only beside the rows scored under the paper's protocol.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.erc.params import ErcParams
from melt.erc.names import MODELS, MOSI
from melt.erc.protocols import describe, is_paper_protocol, shared_protocol
from melt.io import write_csv, write_json, write_text

# Dutta & Ganapathy, "LLM supervised pre-training for multimodal emotion recognition in conversations" (ICASSP 2025,
# arXiv 2501.11468), weighted F1 in %, as quoted in issue 11 (MELD fusion and CMU-MOSI are given as "≈").
# The paper trained and tested MELD on its human labels, every utterance of the official splits: no paper number
# for MELT labels or for the MELT subset.
PAPER = {
    ("iemocap", "emo4"): {"text_utt": 69.84, "text_dialogue": 83.85, "audio_utt": 66.93, "audio_dialogue": 77.95,
                          "fusion": 86.48},
    ("meld", "meld"): {"text_utt": 63.81, "text_dialogue": 65.24, "fusion": 66.0},
    ("cmumosi", "binary"): {"fusion": 86.8},
}
HEADLINE = {"fusion": "fusion", "text": "text_dialogue", "audio": "audio_dialogue"}
COLUMNS = ["model", "protocol", "source", "metric", *MODELS]


def headline_metric(dataset: str) -> str:
    return "f1_has0" if dataset == MOSI else "weighted_f1"


def write_report(erc: ErcParams, metrics_dir: str | Path, headline_path: str | Path, table_md: str | Path,
                 table_csv: str | Path) -> pd.DataFrame:
    headline, rows, notes = {}, [], {}
    for dataset, labels in erc.datasets.items():
        name = erc.model_name(dataset)
        path = Path(metrics_dir) / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (run erc_evaluate@{dataset})")
        metric = headline_metric(dataset)
        headline[dataset] = {}
        for protocol, scores in json.loads(path.read_text(encoding="utf-8")).items():
            keys = HEADLINE if protocol == shared_protocol(dataset) else {"fusion": "fusion"}
            headline[dataset][protocol] = {key: scores[model][metric] for key, model in keys.items()}
            rows.append({"model": name, "protocol": protocol, "source": "ours", "metric": metric,
                         **{m: round(100 * scores[m][metric], 2) for m in MODELS}})
            notes[(name, protocol)] = describe(dataset, labels, protocol, erc)
            if (dataset, labels) in PAPER and is_paper_protocol(dataset, labels, protocol, erc):
                rows.append({"model": name, "protocol": protocol, "source": "paper (MERITS-L)", "metric": metric,
                             **PAPER[(dataset, labels)]})
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_json(headline_path, headline)
    write_csv(table, table_csv)
    write_text(table_md, _markdown(table, notes))
    return table


def _markdown(table: pd.DataFrame, notes: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * 4 + "---:|" * len(MODELS)]
    for r in table.itertuples(index=False):
        cells = [r.model, r.protocol, r.source, r.metric] + ["—" if pd.isna(v) else f"{v:.2f}" for v in r[4:]]
        lines.append("| " + " | ".join(cells) + " |")
    protocols = "\n".join(f"- `{model}` `{protocol}`: {text}" for (model, protocol), text in notes.items())
    note = ("\nWeighted F1 in % on the test split (CMU-MOSI: binary has-0 weighted F1). `*_utt`: Stage I "
            "(utterance), `*_dialogue`: Stage II (dialogue context), `fusion`: Stage III. Paper numbers (as quoted in "
            "issue 11) only beside a row scored as the paper scored: MELD's whole test split with MELD labels, "
            "IEMOCAP Session 5 with 4 classes, CMU-MOSI's standard test folds. Protocols:\n\n" + protocols + "\n")
    return "\n".join(lines) + "\n" + note
