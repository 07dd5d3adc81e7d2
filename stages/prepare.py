"""Stage `prepare`: MELD-format corpus → data/prepared/{train,dev,test,excluded}.csv, reports/prepare.json
(Table 1, exclusions, speakers) and metrics/prepare.json (rows kept per split)."""

from melt.data.params import DataParams, PrepareParams
from melt.data.prepare import run
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(data=DataParams, prepare=PrepareParams)
    report = run(params.data, params.prepare, out_dir="data/prepared", metrics_path="metrics/prepare.json",
                 report_path="reports/prepare.json")
    for split, row in report["table1"].items():
        print(f"{split}: {row['utterances']} utterances, {row['speakers']} speakers, {row['mean_seconds']} s mean")
