"""Stage `erc_data`: one dialogue table per dataset of erc.datasets → data/erc/<dataset>.csv and
data/erc/<dataset>_excluded.csv."""

from melt.data.params import DataParams
from melt.erc.data import build_tables
from melt.erc.params import ErcParams
from melt.params_base import stage_params
from melt.ser.params import SerParams

if __name__ == "__main__":
    params = stage_params(erc=ErcParams, data=DataParams, ser=SerParams)
    paths = {name: getattr(params.ser.corpora, name).path for name in ("iemocap", "cmumosi")}
    summary = build_tables(params.erc, params.data.source, paths, prepared_dir="data/prepared", melt_dir="data/melt",
                           out_dir="data/erc")
    for dataset, counts in summary.items():
        splits = " / ".join(str(n) for n in counts["per_split"].values())
        print(f"{dataset}: {counts['dialogues']} dialogues, {counts['turns']} turns (train / validation / test "
              f"{splits}; {counts['scored']} labelled), "
              f"{counts['excluded']} utterances excluded (data/erc/{dataset}_excluded.csv)")
