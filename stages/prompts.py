"""Stage `prompts`: data/prepared/{split}.csv → data/prompts/<annotator>/{split}.jsonl (key, messages, sampling
params; for audio annotators the clip's path and sha256) and data/prompts/panel.json."""

import sys
from pathlib import Path

from melt.annotate.params import AnnotateParams, PromptsParams
from melt.annotate.requests import write_prompts
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(prompts=PromptsParams, annotate=AnnotateParams)
    counts = write_prompts(Path("data/prepared"), Path("data/prompts"), params.prompts, params.annotate,
                           progress=sys.stderr.isatty())
    for name, per_split in counts.items():
        s = params.annotate.settings(name)
        print(f"prompts {name} ({s.input}, {s.prompt_name}, show {params.prompts.show!r}): "
              + ", ".join(f"{split} {n}" for split, n in per_split.items()))
