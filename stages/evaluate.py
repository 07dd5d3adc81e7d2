"""Stage `evaluate` (one per backbone × label set) → metrics/ser/<backbone>_<labels>.json."""

import sys

from melt.config import stage_params
from melt.ser.evaluate import evaluate_model

if __name__ == "__main__":
    backbone, labels = sys.argv[1], sys.argv[2]
    results = evaluate_model(stage_params().ser, backbone, labels, model_dir=f"models/{backbone}/{labels}",
                             features_dir=f"data/features/ser/{backbone}", melt_dir="data/melt",
                             metrics_path=f"metrics/ser/{backbone}_{labels}.json")
    for target, scores in results.items():
        print(f"{backbone}/{labels} {target}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
