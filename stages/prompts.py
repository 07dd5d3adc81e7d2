"""Stage `prompts`: data/prepared/{split}.csv → data/prompts/{split}.jsonl (key, messages, sampling params)."""

from pathlib import Path

from melt.annotate.params import AnnotateParams, PromptsParams
from melt.annotate.requests import write_prompts
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(prompts=PromptsParams, annotate=AnnotateParams)
    counts = write_prompts(Path("data/prepared"), Path("data/prompts"), params.prompts, params.annotate)
    print(f"prompts ({params.prompts.template}, show {params.prompts.show!r}): "
          + ", ".join(f"{split} {n}" for split, n in counts.items()))
