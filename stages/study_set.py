"""Stage `study_set`: data/melt (+ data/prepared for conversation context) → data/study/{items,review_queue,context}.csv
+ sampling.json (seeded, stratified) and, for a panel-labelled MELT, panel.json."""

from melt.data.params import DataParams
from melt.params_base import stage_params
from melt.study.params import StudyParams
from melt.study.items import build_study_set

if __name__ == "__main__":
    params = stage_params(study=StudyParams, data=DataParams)
    report = build_study_set(params.study, melt_dir="data/melt", out_dir="data/study", audio_dir=params.data.audio_dir,
                             prepared_dir="data/prepared")
    totals = report["totals"]
    print(f"study set: {totals['preference_items']} disagreement items, {totals['attention_items']} attention checks; "
          f"review queue {totals['review_queue']}")
    for label, r in report["preference"].items():
        if r["shortfall"] > 0:
            print(f"  {label}: {r['sampled']} of {params.study.per_label} ({r['disagreements']} disagreements, "
                  f"{r['without_media']} without media)")
