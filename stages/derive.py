"""Stage `derive`: data/prepared + data/annotations (the panel) → data/melt/{train,dev,test,excluded}.csv and
panel.json, reports/derive.json (counts per split and reason, the panel), reports/panel_confusion/<annotator>.csv
(each annotator's estimated confusion matrix) and metrics/derive.json (labelled, excluded)."""

from melt.analysis.derive import run
from melt.analysis.params import DeriveParams
from melt.annotate.params import AnnotateParams
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(derive=DeriveParams, annotate=AnnotateParams)
    report = run(params.derive, prepared_dir="data/prepared", annotations_dir="data/annotations",
                 out_dir="data/melt", metrics_path="metrics/derive.json", report_path="reports/derive.json",
                 aggregate_method=params.annotate.aggregate, confusion_dir="reports/panel_confusion")
    for split, m in report["splits"].items():
        print(f"{split}: {m['labelled']} labelled, {m['excluded']} excluded {m['excluded_by_reason']}, "
              f"character check {m['character_check']}")
    panel = report["panel"]
    print(f"panel ({panel['aggregate']}): " + ", ".join(f"{n} labelled {a['labelled']}"
                                                       for n, a in panel["annotators"].items()))
