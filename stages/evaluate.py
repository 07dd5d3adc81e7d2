"""Stage `evaluate` (one per backbone × label set) → metrics/ser/<backbone>_<labels>.json (headline scores),
reports/ser/<backbone>_<labels>.json (every target and reference) and reports/ser/<backbone>_<labels>/ (confusion
CSVs)."""

import sys

from melt.config import stage_params
from melt.ser.evaluate import evaluate_model

if __name__ == "__main__":
    backbone, labels = sys.argv[1], sys.argv[2]
    name = f"{backbone}_{labels}"
    results = evaluate_model(stage_params().ser, backbone, labels, model_dir=f"models/{backbone}/{labels}",
                             features_dir=f"data/features/ser/{backbone}", melt_dir="data/melt",
                             metrics_path=f"metrics/ser/{name}.json", report_path=f"reports/ser/{name}.json",
                             confusion_dir=f"reports/ser/{name}")
    for target, scores in results.items():
        print(f"{backbone}/{labels} {target}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
