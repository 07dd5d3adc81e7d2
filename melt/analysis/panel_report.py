"""The panel in `analyze`: each annotator against MELD and the panel label, pairs of annotators, Krippendorff's α
across the panel, text-only vs audio-aware annotators; reports/panel.md.

Rows: every prepared utterance (the MELT splits and excluded.csv together), so an annotator's figures cover every
row it labelled, also rows the panel left out. An annotator's label is its `label_<name>` column (empty = it gave
none: failed, invalid, tied or its clip excluded).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.analysis.agreement import nominal_alpha, pair_agreement, pairwise_kappa
from melt.analysis.layout import label_column, read_melt_csv
from melt.data.labels import normalize_emotion
from melt.data.meld import SPLITS

PANEL_FILE = "panel.json"
TEXT_ONLY, AUDIO_AWARE = "text-only", "audio-aware"


def read_panel(melt_dir: Path) -> dict:
    path = Path(melt_dir) / PANEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (derive writes it: run the derive stage)")
    return json.loads(path.read_text(encoding="utf-8"))


def panel_rows(melt_dir: Path, names: list[str]) -> pd.DataFrame:
    """Every prepared utterance with MELD's label (`meld`), the panel's (`panel`) and each annotator's (None = no
    label), the labelled splits first, then excluded.csv."""
    wanted = ("split", "Dialogue_ID", "Utterance_ID", "Emotion", "llm_label", *(label_column(n) for n in names))
    frames = [read_melt_csv(Path(melt_dir) / f"{s}.csv", wanted)[list(wanted)] for s in SPLITS]
    frames.append(read_melt_csv(Path(melt_dir) / "excluded.csv", wanted)[list(wanted)])
    df = pd.concat(frames, ignore_index=True)
    out = pd.DataFrame({"split": df["split"], "meld": df["Emotion"].map(normalize_emotion),
                        "panel": df["llm_label"].map(normalize_emotion)})
    for n in names:
        out[n] = df[label_column(n)].map(normalize_emotion)
    return out.astype(object).where(out.notna(), None)


def modality_group(input_: str) -> str:
    return TEXT_ONLY if input_ == "text" else AUDIO_AWARE


def _vs(reference: pd.Series, labels: pd.Series) -> dict:
    both = [(r, x) for r, x in zip(reference, labels) if r is not None and x is not None]
    stats = pair_agreement([r for r, _ in both], [x for _, x in both])
    return {"n": stats["n"], "change_rate": stats["change_rate"], "kappa": stats["kappa"]}


def annotator_stats(rows: pd.DataFrame, name: str) -> dict:
    """An annotator against MELD (κ, change rate: the paper's figures) and against the panel label (agreement)."""
    vs_meld = _vs(rows["meld"], rows[name])
    both = [(p, x) for p, x in zip(rows["panel"], rows[name]) if p is not None and x is not None]
    vs_panel = pair_agreement([p for p, _ in both], [x for _, x in both])
    return {"rows": len(rows), "labelled": int(rows[name].notna().sum()),
            "kappa_vs_meld": vs_meld["kappa"], "change_rate_vs_meld": vs_meld["change_rate"], "n_vs_meld": vs_meld["n"],
            "agreement_with_panel": vs_panel["agreement"], "kappa_with_panel": vs_panel["kappa"]}


def panel_report(melt_dir: Path) -> dict:
    panel = read_panel(melt_dir)
    names = list(panel["annotators"])
    rows = panel_rows(melt_dir, names)
    annotators = {}
    for n in names:
        entry = {k: panel["annotators"][n].get(k) for k in ("backend", "model", "input", "prompt")}
        entry["modality"] = modality_group(entry["input"])
        entry.update(annotator_stats(rows, n))
        entry["splits"] = {s: _vs(rows.loc[rows["split"] == s, "meld"], rows.loc[rows["split"] == s, n])
                           for s in SPLITS}
        annotators[n] = entry
    units = [[r[n] for n in names] for r in rows.to_dict("records")]
    groups = {}
    for group in (TEXT_ONLY, AUDIO_AWARE):
        members = [n for n in names if annotators[n]["modality"] == group]
        kappas = [annotators[n]["kappa_vs_meld"] for n in members if annotators[n]["kappa_vs_meld"] is not None]
        groups[group] = {"annotators": members,
                         "mean_kappa_vs_meld": round(sum(kappas) / len(kappas), 4) if kappas else None,
                         "alpha": nominal_alpha([[r[n] for n in members] for r in rows.to_dict("records")])["alpha"]
                         if len(members) > 1 else None}
    return {"aggregate": panel["aggregate"], "annotators": annotators,
            "panel_vs_meld": _vs(rows["meld"], rows["panel"]),
            "pairwise": pairwise_kappa({n: rows[n].tolist() for n in names}),
            "alpha": nominal_alpha(units) if len(names) > 1 else
            {"alpha": None, "note": "one annotator: no agreement across a panel to measure"},
            "modalities": groups}


def _cell(x) -> str:
    return "–" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def panel_markdown(report: dict) -> str:
    """reports/panel.md: the panel's tables (what reviewers and the card's readers look at)."""
    a = report["annotators"]
    lines = ["# The annotator panel", "",
             f"Aggregation: `{report['aggregate']}`. Rows: every prepared utterance (labelled splits and excluded "
             f"rows). κ and change rate are against MELD's labels, on the rows the annotator labelled.", "",
             "## Text-only vs audio-aware", "",
             "| annotator | modality | input | backend | model | prompt | labelled | κ vs MELD | change rate vs MELD "
             "| agreement with panel |", "|---|---|---|---|---|---|---|---|---|---|"]
    for group in (TEXT_ONLY, AUDIO_AWARE):
        for n in report["modalities"][group]["annotators"]:
            e = a[n]
            lines.append(f"| `{n}` | {group} | {e['input']} | {e['backend']} | `{e['model']}` | `{e['prompt']}` | "
                         f"{e['labelled']} of {e['rows']} | {_cell(e['kappa_vs_meld'])} | "
                         f"{_cell(e['change_rate_vs_meld'])} | {_cell(e['agreement_with_panel'])} |")
    p = report["panel_vs_meld"]
    lines += [f"| **panel** ({report['aggregate']}) | | | | | | {p['n']} | {_cell(p['kappa'])} | "
              f"{_cell(p['change_rate'])} | |", "",
              "| group | annotators | mean κ vs MELD | α within the group |", "|---|---|---|---|"]
    for group, g in report["modalities"].items():
        lines.append(f"| {group} | {', '.join(f'`{n}`' for n in g['annotators']) or '–'} | "
                     f"{_cell(g['mean_kappa_vs_meld'])} | {_cell(g['alpha'])} |")
    lines += ["", "## Agreement between annotators", "",
              f"Krippendorff's α (nominal) across the panel: **{_cell(report['alpha']['alpha'])}**"
              + (f" over {report['alpha']['units']} utterances with ≥ 2 labels" if "units" in report["alpha"] else ""),
              "", "| pair | utterances both labelled | agreement | Cohen's κ |", "|---|---|---|---|"]
    for pair in report["pairwise"]:
        lines.append(f"| `{pair['a']}` – `{pair['b']}` | {pair['n']} | {_cell(pair['agreement'])} | "
                     f"{_cell(pair['kappa'])} |")
    if not report["pairwise"]:
        lines.append("| (one annotator) | | | |")
    lines += ["", "Per-annotator confusion matrices estimated by the aggregation: `reports/panel_confusion/<name>.csv` "
              "(rows: true label, columns: the annotator's label)."]
    return "\n".join(lines) + "\n"
