"""Stage `erc_evaluate@<dataset>`: the five models of a checkpoint on the test split, per protocol →
metrics/erc/<dataset>_<labels>.json and reports/erc/<dataset>_<labels>/ (predictions, report)."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import sys

from melt.erc.evaluate import evaluate
from melt.erc.params import ErcParams
from melt.params_base import stage_params

if __name__ == "__main__":
    configure_torch()
    dataset = sys.argv[1]
    erc = stage_params(erc=ErcParams).erc
    name = erc.model_name(dataset)
    scores = evaluate(erc, dataset, f"models/erc/{name}", tables_dir="data/erc",
                      features_dirs={m: f"data/features/erc/{m}" for m in ("text", "audio")},
                      metrics_path=f"metrics/erc/{name}.json", report_dir=f"reports/erc/{name}")
    for protocol, models in scores.items():
        for model, values in models.items():
            print(f"{name} {protocol} {model}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()
                                                            if v is not None))
