"""Stage `train` (one per backbone × label set): heads on cached features → models/<backbone>/<labels>/."""

import sys

from melt.config import stage_params
from melt.ser.train import train_models

if __name__ == "__main__":
    backbone, labels = sys.argv[1], sys.argv[2]
    summary = train_models(stage_params().ser, backbone, labels, melt_dir="data/melt",
                           features_dir=f"data/features/ser/{backbone}", model_dir=f"models/{backbone}/{labels}")
    if summary["run_id"]:  # the main process reports (others return no run under `accelerate launch`)
        print(f"{backbone}/{labels}: {summary['rows']} training rows ({summary['excluded']} excluded), "
              f"final loss {summary['final_loss']}, {summary['seconds']} s, MLflow run {summary['run_id']}, "
              f"checkpoint sha256 {summary['checkpoint_sha256'][:16]}")
