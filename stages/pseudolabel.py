"""Stage `pseudolabel`: data/transcripts/{corpus}.csv → data/pseudolabels/{corpus}.csv, {corpus}_answers/ (snapshot)."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import sys

from melt.annotate.backends import FatalBackendError
from melt.annotate.params import AnnotateParams
from melt.params_base import stage_params
from melt.pretrain.params import PretrainParams, PseudolabelParams
from melt.pretrain.pseudolabel import pseudolabel

if __name__ == "__main__":
    configure_torch()
    params = stage_params(pretrain=PretrainParams, pseudolabel=PseudolabelParams, annotate=AnnotateParams)
    corpus = params.pretrain.corpus.name
    try:   # annotate.store: the one answer store both stages share
        s = pseudolabel(params.pseudolabel, corpus, f"data/transcripts/{corpus}.csv", store=params.annotate.store)
    except FatalBackendError as err:
        sys.exit(f"pseudolabel: stopped: {err}")
    if s["dry_run"]:
        print(f"pseudolabel (dry run, {s['model']}): {s['requests_to_send']} of {s['requests']} requests not in the "
              f"store, ~{s['estimated_prompt_tokens']} prompt + {s['estimated_completion_tokens']} completion tokens, "
              f"~${s['estimated_cost_usd']}" + ("" if s["price_known"] else " (no price for this model)"))
        sys.exit(1)   # a dry run writes no outputs: stop the pipeline here
    print(f"pseudolabel ({params.pseudolabel.backend}, {s['model']}): {s['labelled']} labelled, {s['failed']} not; "
          f"{s['requests']} requests, {s['cache_hits']} from the answer store, {s['requests_sent']} sent, "
          f"${s['paid_usd']} paid this run (${s['cost_usd']} for the answers used)")
