"""Stage `derive`: data/prepared + data/annotations → data/melt/{train,dev,test,excluded}.csv + metrics/derive.json."""

from melt.analysis.derive import run
from melt.config import stage_params

if __name__ == "__main__":
    params = stage_params()
    metrics = run(params.derive, prepared_dir="data/prepared", annotations_dir="data/annotations",
                  out_dir="data/melt", metrics_path="metrics/derive.json")
    for split, m in metrics["splits"].items():
        print(f"{split}: {m['labelled']} labelled, {m['excluded']} excluded {m['excluded_by_reason']}, "
              f"character check {m['character_check']}")
