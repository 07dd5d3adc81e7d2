"""Stage `annotate`: data/prompts + the answer store → data/annotations/<annotator>/, cache/llm/ (snapshot),
reports/annotate.json, metrics/annotate.json."""

import json
import sys

from melt.annotate.backends import FatalBackendError
from melt.annotate.params import AnnotateParams
from melt.annotate.run import annotate
from melt.annotate.store import StoreError
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
    for name, r in report["annotators"].items():
        if r.get("dry_run"):
            print(f"annotate {name} (dry run, {r['model']}, {r['input']}): {r['requests_to_send']} of {r['requests']} "
                  f"requests not in the store, ~{r['estimated_prompt_tokens']} prompt + {r['estimated_audio_tokens']} "
                  f"audio + {r['estimated_completion_tokens']} completion tokens, ~${r['estimated_cost_usd']}"
                  + ("" if r["price_known"] else " (no price for this model in annotate.prices)"))
        else:
            s = r["status"]
            print(f"annotate {name} ({r['backend']}, {r['model']}, {r['input']}): {r['requests']} requests, "
                  f"{s['ok']} ok, {s['invalid']} invalid, {s['failed']} failed, {s['excluded']} excluded")
    if "requests_sent" in m:
        print(f"annotate: {m['requests']} requests, {m['cache_hits']} from the store, {m['requests_sent']} sent, "
              f"${m['cost_usd']} this run; snapshot {report['answers']} answers")
    print("annotate: run " + json.dumps(run, sort_keys=True))
