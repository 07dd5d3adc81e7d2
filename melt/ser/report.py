"""Paper Table 3 for one backbone: MELT vs MELD labels per target, the better label set in bold.

Read from the evaluation reports (`<reports_dir>/<labels>.json`). Every column has one reference: the
in-domain test split appears twice, scored against the MELT labels and against the MELD labels, so the two
label sets' models are compared on the same reference labels and the same utterances (bolding a MELT-trained
model scored on MELT labels against a MELD-trained one scored on MELD labels would compare two tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.io import write_csv, write_text
from melt.ser.data import IN_DOMAIN

METRICS = ("uar", "acc", "f1")
TARGET_TITLES = {IN_DOMAIN: "MELT test", "iemocap": "IEMOCAP", "tess": "TESS", "ravdess": "RAVDESS",
                 "cremad": "CREMA-D", "acted": "demo acted"}
COLUMNS = ["backbone", "labels", "target", "reference", "rows", *METRICS]


def collect(reports_dir: str | Path, backbone: str, label_sets) -> pd.DataFrame:
    """Long table: backbone, labels, target, reference, rows, uar, acc, f1."""
    rows = []
    for labels in label_sets:
        path = Path(reports_dir) / f"{labels}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (evaluate {backbone}/{labels} first)")
        for s in json.loads(path.read_text(encoding="utf-8"))["scores"]:
            rows.append({"backbone": backbone, "labels": labels, **{c: s[c] for c in COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=COLUMNS)


def column_title(target: str, reference: str) -> str:
    title = TARGET_TITLES.get(target, target)
    return f"{title} ({reference.upper()} labels)" if target == IN_DOMAIN else title


def render_markdown(table: pd.DataFrame) -> str:
    """One row per backbone × label set, columns (target, reference) × metric in %; per backbone and column
    the better label set in bold (ties: none)."""
    columns = list(dict.fromkeys(zip(table["target"], table["reference"])))
    header = ["Backbone", "Labels"] + [f"{column_title(t, r)} {m.upper()}" for t, r in columns for m in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for backbone, group in table.groupby("backbone", sort=False):
        n_label_sets = group["labels"].nunique()
        for labels, rows in group.groupby("labels", sort=False):
            cells = [backbone, labels.upper()]
            for t, r in columns:
                same = group[(group["target"] == t) & (group["reference"] == r)]
                for m in METRICS:
                    value = rows[(rows["target"] == t) & (rows["reference"] == r)][m]
                    if value.empty:
                        cells.append("–")
                        continue
                    v, best = float(value.iloc[0]), same[m].max()
                    winners = int((same[m] == best).sum())
                    text = f"{100 * v:.1f}"
                    cells.append(f"**{text}**" if v == best and winners < n_label_sets else text)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(reports_dir: str | Path, backbone: str, label_sets, markdown_path: str | Path,
                 csv_path: str | Path) -> pd.DataFrame:
    table = collect(reports_dir, backbone, label_sets)
    title = (f"# Table 3 ({backbone}): speech emotion recognition trained on MELT vs MELD labels\n\n"
             "UAR (macro recall), ACC, macro F1 in %, over the classes present in each reference. Each column has "
             "one reference (the in-domain MELT test split is scored against both its MELT and its MELD labels); "
             "per column the better label set is in bold (ties: none). Each target is scored by a "
             "head restricted to its classes.\n\n")
    write_text(markdown_path, title + render_markdown(table))
    write_csv(table, csv_path)
    return table
