"""The `ser` stage (one per backbone): train a model per label set, evaluate it, write Table 3 for the backbone.

One stage per backbone rather than separate train / evaluate / report stages: `dvc exp show` lists every
dependency whose hash differs between experiments, so checkpoints and per-model reports passed between stages
would add a 39-character hash column each to the comparison table; here nothing that an experiment on the
head's params changes is a dependency. The expensive part (backbone features) stays in the `features` stage.

Outputs of backbone `<bb>`:
- `models/<bb>/<labels>/`: one checkpoint per label set (melt.ser.checkpoint);
- `metrics/ser/<bb>.json`: the headline DVC metrics `{labels: {target: {uar, f1}}}` (in-domain `test` against
  the model's own labels, and each evaluation corpus);
- `reports/ser/<bb>/<labels>.json`: every target × reference with UAR, ACC, F1, classes and rows;
  `reports/ser/<bb>/table3.md` and `.csv`: paper Table 3 for this backbone (melt.ser.report);
- `reports/ser_confusion/<bb>/<labels>/<target>.csv`: the scored rows (DVC plots, confusion template).
"""

from __future__ import annotations

from pathlib import Path

from melt.io import write_json
from melt.ser.evaluate import evaluate_model
from melt.ser.params import SerParams
from melt.ser.report import write_report
from melt.ser.train import train_models

# The scalars compared in `dvc exp show`: UAR (the paper's headline) and macro F1. ACC stays in the report:
# on MELD-like data it mostly measures the share of `neutral`.
HEADLINE = ("uar", "f1")


def run_backbone(ser: SerParams, backbone: str, melt_dir: str | Path, features_dir: str | Path,
                 models_dir: str | Path, metrics_path: str | Path, reports_dir: str | Path,
                 confusion_dir: str | Path, progress: bool = True) -> dict:
    """Train, evaluate and report every label set of `backbone`; returns the training summaries and scores."""
    models_dir, reports_dir, confusion_dir = Path(models_dir), Path(reports_dir), Path(confusion_dir)
    summaries, headline = {}, {}
    for labels in ser.label_sets:
        summaries[labels] = train_models(ser, backbone, labels, melt_dir, features_dir, models_dir / labels,
                                         progress=progress)
        scores = evaluate_model(ser, backbone, labels, models_dir / labels, features_dir, melt_dir,
                                report_path=reports_dir / f"{labels}.json",
                                confusion_dir=confusion_dir / labels)
        headline[labels] = {target: {m: s[m] for m in HEADLINE} for target, s in scores.items()}
    write_json(metrics_path, headline)
    table = write_report(reports_dir, backbone, ser.label_sets, reports_dir / "table3.md", reports_dir / "table3.csv")
    return {"training": summaries, "metrics": headline, "table_rows": len(table)}
