"""Stage `derive`: data/prepared + data/annotations → data/melt/{train,dev,test,excluded}.csv,
reports/derive.json (counts per split and reason) and metrics/derive.json (labelled, excluded)."""

from melt.analysis.derive import run
from melt.analysis.params import DeriveParams
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(derive=DeriveParams)
    report = run(params.derive, prepared_dir="data/prepared", annotations_dir="data/annotations",
                 out_dir="data/melt", metrics_path="metrics/derive.json", report_path="reports/derive.json")
    for split, m in report["splits"].items():
        print(f"{split}: {m['labelled']} labelled, {m['excluded']} excluded {m['excluded_by_reason']}, "
              f"character check {m['character_check']}")
