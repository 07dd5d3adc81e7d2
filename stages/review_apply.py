"""Stage `review_apply`: review decisions in the study database + data/melt → data/melt_reviewed/{split}.csv."""

from melt.params_base import stage_params
from melt.repo import shared_path
from melt.study.review_apply import apply_reviews
from melt.study.params import StudyParams
from melt.study.store import StudyStore

if __name__ == "__main__":
    params = stage_params(study=StudyParams).study
    store = StudyStore(shared_path(params.db, "study/melt-study.db"), create=False)
    report = apply_reviews(store, melt_dir="data/melt", out_dir="data/melt_reviewed",
                           report_path="reports/review_apply.json")
    for split, r in report["splits"].items():
        print(f"{split}: {r['rows']} rows, {r['reviewed']} reviewed, {r['changed_from_llm']} changed from the LLM label")
    for kind in ("stale_decisions", "decisions_without_row"):
        if report[kind]:
            print(f"not applied ({kind}): {len(report[kind])}, see reports/review_apply.json")
