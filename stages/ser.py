"""Stage `ser` (one per backbone): a model per label set on the cached features → models/<backbone>/<labels>/,
evaluated in-domain and cross-corpus → metrics/ser/<backbone>.json (headline) and reports/ser/<backbone>/
(scores, Table 3) and reports/ser_confusion/<backbone>/ (confusion plots)."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import sys

from melt.params_base import stage_params
from melt.ser.params import SerParams
from melt.ser.run import run_backbone

if __name__ == "__main__":
    configure_torch()
    backbone = sys.argv[1]
    result = run_backbone(stage_params(ser=SerParams).ser, backbone, melt_dir="data/melt",
                          features_dir=f"data/features/ser/{backbone}", models_dir=f"models/{backbone}",
                          metrics_path=f"metrics/ser/{backbone}.json", reports_dir=f"reports/ser/{backbone}",
                          confusion_dir=f"reports/ser_confusion/{backbone}")
    for labels, summary in result["training"].items():
        if summary["run_id"]:  # the main process reports (others return no run under `accelerate launch`)
            print(f"{backbone}/{labels}: {summary['rows']} training rows ({summary['excluded']} excluded), "
                  f"final loss {summary['final_loss']}, {summary['seconds']} s, MLflow run {summary['run_id']}")
    for labels, targets in result["metrics"].items():
        for target, scores in targets.items():
            print(f"{backbone}/{labels} {target}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
