"""Stage `analyze`: data/melt + data/annotations → reports/analysis.json (Table 2, agreement, confusion, α,
the panel, comparison), reports/panel.md (the panel's tables: text-only vs audio-aware, pairwise κ, α), the
MELD×MELT confusion plot data (reports/analysis_confusion/) and metrics/analysis.json (per split change rate and
κ, the panel's α)."""

from melt.analysis.analyze import run
from melt.analysis.params import AnalyzeParams
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(analyze=AnalyzeParams)
    report = run(params.analyze, melt_dir="data/melt", annotations_dir="data/annotations",
                 metrics_path="metrics/analysis.json", report_path="reports/analysis.json",
                 plots_dir="reports/analysis_confusion", panel_md_path="reports/panel.md")
    for split, r in report["splits"].items():
        line = f"{split}: {r['rows']} rows, change rate {r['change_rate']}, kappa vs MELD {r['kappa']}"
        for name, a in r["annotators"].items():
            if a["samples_agreement"]["alpha"] is not None:
                line += f", {name} samples alpha {a['samples_agreement']['alpha']}"
        if "compare" in r:
            line += f", kappa vs {report['compare_with']} {r['compare']['kappa']}"
        print(line)
    panel = report["panel"]
    print(f"panel ({panel['aggregate']}): alpha {panel['alpha']['alpha']}; " + ", ".join(
        f"{n} kappa vs MELD {a['kappa_vs_meld']}" for n, a in panel["annotators"].items()))
