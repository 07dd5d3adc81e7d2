"""Stage `annotate`: data/prompts → data/annotations/{split}.jsonl, cache/llm/, metrics/annotate.json."""

import sys

from melt.annotate.backends import FatalBackendError
from melt.annotate.run import annotate
from melt.config import stage_params

if __name__ == "__main__":
    params = stage_params().annotate
    try:
        m = annotate(params)
    except FatalBackendError as err:
        sys.exit(f"annotate: stopped: {err}")
    if m.get("dry_run"):
        print(f"annotate (dry run, {m['model']}): {m['requests_to_send']} of {m['requests']} requests uncached, "
              f"~{m['estimated_prompt_tokens']} prompt + {m['estimated_completion_tokens']} completion tokens, "
              f"~${m['estimated_cost_usd']}" + ("" if m["price_known"] else " (no price for this model in annotate.prices)"))
    else:
        print(f"annotate ({m['backend']}): {m['requests']} requests, {m['cache_hits']} from cache, "
              f"{m['requests_sent']} sent, {m['status_ok']} ok, {m['status_invalid']} invalid, "
              f"{m['status_failed']} failed, ${m['cost_usd']}")
