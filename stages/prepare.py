"""Stage `prepare`: MELD-format corpus → data/prepared/{train,dev,test,excluded}.csv + metrics/prepare.json."""

from melt.config import stage_params
from melt.data.prepare import run

if __name__ == "__main__":
    params = stage_params()
    metrics = run(params.data, params.prepare, out_dir="data/prepared", metrics_path="metrics/prepare.json")
    for split, row in metrics["table1"].items():
        print(f"{split}: {row['utterances']} utterances, {row['speakers']} speakers, {row['mean_seconds']} s mean")
