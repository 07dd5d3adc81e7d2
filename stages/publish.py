"""Stage `publish`: data/melt + metrics/analysis.json → data/hub (card, Parquet, provenance); push when publish.push."""

from melt.config import stage_params
from melt.publish.build import run

if __name__ == "__main__":
    params = stage_params()
    pipeline = {name: getattr(params, name).model_dump(mode="json")
                for name in ("data", "prompts", "annotate", "derive", "analyze")}
    summary = run(params.publish, pipeline=pipeline, melt_dir="data/melt", analysis_path="metrics/analysis.json",
                  annotations_dir="data/annotations", lock_path="dvc.lock", out_dir="data/hub")
    print(f"built {summary['out_dir']}: " + ", ".join(f"{s} {n} rows" for s, n in summary["rows"].items()))
    if summary["pushed"]:
        p = summary["pushed"]
        print(f"pushed {p['repo_id']} ({'private' if p['private'] else 'public'}), commit {p['commit']}")
