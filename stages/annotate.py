"""Stage `annotate`: data/prompts + the answer store → data/annotations/, cache/llm/ (snapshot), reports/, metrics/."""

import json
import sys

from melt.annotate.backends import FatalBackendError
from melt.annotate.run import annotate
from melt.annotate.store import StoreError
from melt.annotate.params import AnnotateParams
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(annotate=AnnotateParams).annotate
    try:
        out = annotate(params)
    except (FatalBackendError, StoreError) as err:
        sys.exit(f"annotate: stopped: {err}")
    m, report, run = out["metrics"], out["report"], out["run"]
    for problem in run["snapshot_problems"]:
        print(f"annotate: snapshot: {problem}", file=sys.stderr)
    if report.get("dry_run"):
        print(f"annotate (dry run, {params.model}): {m['requests_to_send']} of {m['requests']} requests not in the "
              f"store, ~{report['estimated_prompt_tokens']} prompt + {report['estimated_completion_tokens']} "
              f"completion tokens, ~${m['estimated_cost_usd']}"
              + ("" if report["price_known"] else " (no price for this model in annotate.prices)"))
    else:
        s = report["status"]
        print(f"annotate ({report['backend']}, {report['model']}): {m['requests']} requests, {m['cache_hits']} from "
              f"the store, {m['requests_sent']} sent, {s['ok']} ok, {s['invalid']} invalid, {s['failed']} failed, "
              f"${m['cost_usd']} this run; snapshot {report['answers']} answers")
    print("annotate: run " + json.dumps(run, sort_keys=True))
