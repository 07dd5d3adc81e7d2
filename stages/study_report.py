"""Stage `study_report`: the study database (study.db) → metrics/study.json + reports/study/ (Figure 3)."""

from melt.params_base import stage_params
from melt.repo import shared_path
from melt.study.report import run
from melt.study.params import StudyParams
from melt.study.store import StudyStore

if __name__ == "__main__":
    params = stage_params(study=StudyParams).study
    store = StudyStore(shared_path(params.db, "study/melt-study.db"), create=False)
    metrics = run(store, params.labels, params.max_attention_failures, metrics_path="metrics/study.json",
                  reports_dir="reports/study", bootstrap_resamples=params.bootstrap_resamples,
                  bootstrap_seed=params.bootstrap_seed)
    o = metrics["overall"]
    print(f"study: {o['answers']} answers from {o['participants']} participants "
          f"({o['attention_failures']} excluded by attention checks); prefer MELT {o['prefer_melt']} "
          f"[{o['ci_low']}, {o['ci_high']}]" + ("" if store.exists else f" (no database yet at {store.path})"))
