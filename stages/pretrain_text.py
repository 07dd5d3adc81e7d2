"""Stage `pretrain_text`: data/pseudolabels/{corpus}.csv → models/text/{name}/, metrics/pretrain_text.json, reports.

`accelerate launch stages/pretrain_text.py` (or torchrun) trains data-parallel; the main process writes."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import os

from melt.params_base import stage_params
from melt.pretrain.params import PretrainParams, PseudolabelParams, TextParams
from melt.pretrain.pretrain_text import pretrain_text

if __name__ == "__main__":
    configure_torch()
    params = stage_params(pretrain=PretrainParams, pseudolabel=PseudolabelParams, text=TextParams)
    corpus = params.pretrain.corpus.name
    r = pretrain_text(params.text, params.pseudolabel.labels, f"data/pseudolabels/{corpus}.csv", corpus=corpus)
    if os.environ.get("RANK", "0") != "0":
        raise SystemExit(0)
    chance = r["meld_test_chance"]
    print(f"pretrain_text ({r['model']} → models/text/{params.text.name}): {r['train_items']} train / "
          f"{r['heldout_items']} held-out pseudo-labels; held-out macro-F1 {r['heldout']['macro_f1']}, "
          f"MELD test ({r['labels']}, human labels) macro-F1 {r['meld_test']['macro_f1']} acc {r['meld_test']['acc']} "
          f"(chance: uniform macro-F1 {chance['uniform_macro_f1']}, majority acc {chance['majority_acc']})")
