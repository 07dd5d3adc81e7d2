"""Stage `analyze`: data/melt + data/annotations → metrics/analysis.json + the MELD×MELT confusion plot data."""

from melt.analysis.analyze import run
from melt.config import stage_params

if __name__ == "__main__":
    params = stage_params()
    report = run(params.analyze, melt_dir="data/melt", annotations_dir="data/annotations",
                 metrics_path="metrics/analysis.json", plots_dir="metrics/analysis_confusion")
    for split, r in report["splits"].items():
        alpha = r["samples_agreement"]["alpha"]
        line = f"{split}: {r['rows']} rows, change rate {r['change_rate']}, kappa vs MELD {r['kappa']}"
        if alpha is not None:
            line += f", samples alpha {alpha}"
        if "compare" in r:
            line += f", kappa vs {report['compare_with']} {r['compare']['kappa']}"
        print(line)
