"""Stage `erc_train@<dataset>`: Stage I, II, III of one model → models/erc/<dataset>_<labels>/ (MLflow: melt-erc)."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import sys

from melt.erc.params import ErcParams
from melt.erc.train import train_model
from melt.params_base import stage_params

if __name__ == "__main__":
    configure_torch()
    dataset = sys.argv[1]
    erc = stage_params(erc=ErcParams).erc
    summary = train_model(erc, dataset, tables_dir="data/erc",
                          features_dirs={m: f"data/features/erc/{m}" for m in ("text", "audio")},
                          model_dir=f"models/erc/{erc.model_name(dataset)}")
    print(f"{erc.model_name(dataset)}: {summary['dialogues']} dialogues, {summary['turns']} turns "
          f"({summary['labelled']} labelled, missing {summary['missing']}); epochs chosen on validation "
          f"{summary['chosen_epochs']}, validation weighted F1 {summary['validation_weighted_f1']}; "
          f"{summary['seconds']} s, MLflow run {summary['run_id']}")
