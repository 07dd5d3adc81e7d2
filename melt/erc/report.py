"""The `erc_report` stage: every model's test scores beside the paper's, and the headline metrics.

- `metrics/erc.json` (DVC metrics, `dvc exp show`): per dataset, the weighted F1 of `fusion`, `text` (Stage II) and
  `audio` (Stage II) (CMU-MOSI: its has-0 weighted F1). Keyed by dataset, not by label set, so that experiments with
  MELT and with MELD labels (`-S erc.datasets.demo=melt`) line up in the same columns; the label set is the
  `erc.datasets.<dataset>` param column.
- `metrics/erc_table.md` / `.csv`: the five models of every trained dataset in %, and the MERITS-L paper's
  numbers where the dataset and label set match.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.erc.evaluate import MOSI
from melt.erc.inference import MODELS
from melt.erc.params import ErcParams
from melt.io import write_csv, write_json, write_text

# Dutta & Ganapathy, "LLM supervised pre-training for multimodal emotion recognition in conversations" (ICASSP 2025,
# arXiv 2501.11468), weighted F1 in %, as quoted in issue 11 (MELD fusion and CMU-MOSI are given as "≈").
# The paper trained on MELD's human labels: no paper number for MELT labels.
PAPER = {
    ("iemocap", "emo4"): {"text_utt": 69.84, "text_dialogue": 83.85, "audio_utt": 66.93, "audio_dialogue": 77.95,
                          "fusion": 86.48},
    ("meld", "meld"): {"text_utt": 63.81, "text_dialogue": 65.24, "fusion": 66.0},
    ("cmumosi", "binary"): {"fusion": 86.8},
}
HEADLINE = {"fusion": "fusion", "text": "text_dialogue", "audio": "audio_dialogue"}


def headline_metric(dataset: str) -> str:
    return "f1_has0" if dataset == MOSI else "weighted_f1"


def write_report(erc: ErcParams, metrics_dir: str | Path, headline_path: str | Path, table_md: str | Path,
                 table_csv: str | Path) -> pd.DataFrame:
    headline, rows = {}, []
    for dataset, labels in erc.datasets.items():
        name = erc.model_name(dataset)
        path = Path(metrics_dir) / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (run erc_evaluate@{dataset})")
        scores = json.loads(path.read_text(encoding="utf-8"))
        metric = headline_metric(dataset)
        headline[dataset] = {key: scores[model][metric] for key, model in HEADLINE.items()}
        rows.append({"model": name, "source": "ours", "metric": metric,
                     **{m: round(100 * scores[m][metric], 2) for m in MODELS}})
        if (dataset, labels) in PAPER:
            rows.append({"model": name, "source": "paper (MERITS-L)", "metric": metric, **PAPER[(dataset, labels)]})
    table = pd.DataFrame(rows, columns=["model", "source", "metric", *MODELS])
    write_json(headline_path, headline)
    write_csv(table, table_csv)
    write_text(table_md, _markdown(table))
    return table


def _markdown(table: pd.DataFrame) -> str:
    header = ["model", "source", "metric", *MODELS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * len(MODELS)]
    for r in table.itertuples(index=False):
        cells = [r.model, r.source, r.metric] + ["—" if pd.isna(v) else f"{v:.2f}" for v in r[3:]]
        lines.append("| " + " | ".join(cells) + " |")
    note = ("\nWeighted F1 in % on the test split (CMU-MOSI: binary has-0 weighted F1). `*_utt`: Stage I "
            "(utterance), `*_dialogue`: Stage II (dialogue context), `fusion`: Stage III. Paper numbers as quoted "
            "in issue 11; the paper trained MELD on its human labels.\n")
    return "\n".join(lines) + "\n" + note
