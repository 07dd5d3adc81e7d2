"""The `report` stage: paper Table 3 — MELT vs MELD labels per backbone and target, the better one in bold."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.io import write_csv, write_text
from melt.ser.data import IN_DOMAIN

METRICS = ("uar", "acc", "f1")
TARGET_TITLES = {IN_DOMAIN: "in-domain test", "iemocap": "IEMOCAP", "tess": "TESS", "ravdess": "RAVDESS",
                 "cremad": "CREMA-D", "demo_acted": "demo acted"}


def collect(metrics_dir: str | Path, backbones, label_sets) -> pd.DataFrame:
    """Long table: backbone, labels, target, uar, acc, f1 (from metrics/ser/<backbone>_<labels>.json)."""
    rows = []
    for backbone in backbones:
        for labels in label_sets:
            path = Path(metrics_dir) / f"{backbone}_{labels}.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing (run the evaluate stage for {backbone}/{labels})")
            for target, scores in json.loads(path.read_text(encoding="utf-8")).items():
                rows.append({"backbone": backbone, "labels": labels, "target": target,
                             **{m: scores[m] for m in METRICS}})
    return pd.DataFrame(rows, columns=["backbone", "labels", "target", *METRICS])


def render_markdown(table: pd.DataFrame) -> str:
    """One row per backbone × label set, columns target × metric (%), best label set per backbone in bold."""
    targets = list(dict.fromkeys(table["target"]))
    header = ["Backbone", "Labels"] + [f"{TARGET_TITLES.get(t, t)} {m.upper()}" for t in targets for m in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for backbone, group in table.groupby("backbone", sort=False):
        best = {(t, m): group[group["target"] == t][m].max() for t in targets for m in METRICS}
        for labels, rows in group.groupby("labels", sort=False):
            cells = [backbone, labels.upper()]
            for t in targets:
                for m in METRICS:
                    value = rows[rows["target"] == t][m]
                    if value.empty:
                        cells.append("–")
                        continue
                    v = float(value.iloc[0])
                    text = f"{100 * v:.1f}"
                    winners = (group[(group["target"] == t)][m] == best[(t, m)]).sum()
                    cells.append(f"**{text}**" if v == best[(t, m)] and winners < len(group["labels"].unique())
                                 else text)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(metrics_dir: str | Path, backbones, label_sets, markdown_path: str | Path,
                 csv_path: str | Path) -> pd.DataFrame:
    table = collect(metrics_dir, backbones, label_sets)
    title = ("# Table 3: speech emotion recognition trained on MELT vs MELD labels\n\n"
             "UAR (macro recall), ACC, macro F1 in %; per backbone and column the better label set in bold "
             "(ties: none). Each target is scored by a head restricted to its classes.\n\n")
    write_text(markdown_path, title + render_markdown(table))
    write_csv(table, csv_path)
    return table
