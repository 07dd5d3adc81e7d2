"""Stage `analyze`: data/melt + data/annotations → reports/analysis.json (Table 2, agreement, confusion, α,
comparison), the MELD×MELT confusion plot data (reports/analysis_confusion/) and metrics/analysis.json
(per split change rate and κ)."""

from melt.analysis.analyze import run
from melt.analysis.params import AnalyzeParams
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(analyze=AnalyzeParams)
    report = run(params.analyze, melt_dir="data/melt", annotations_dir="data/annotations",
                 metrics_path="metrics/analysis.json", report_path="reports/analysis.json",
                 plots_dir="reports/analysis_confusion")
    for split, r in report["splits"].items():
        alpha = r["samples_agreement"]["alpha"]
        line = f"{split}: {r['rows']} rows, change rate {r['change_rate']}, kappa vs MELD {r['kappa']}"
        if alpha is not None:
            line += f", samples alpha {alpha}"
        if "compare" in r:
            line += f", kappa vs {report['compare_with']} {r['compare']['kappa']}"
        print(line)
