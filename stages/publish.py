"""Stage `publish`: data/melt (with panel.json) + reports/analysis.json + reports/annotate.json → data/hub (card,
Parquet, excluded.csv, provenance); the `reviewed` config from data/melt_reviewed once a row has a reviewer's
decision; push when publish.push."""

from melt.analysis.params import DeriveParams
from melt.annotate.params import PromptsParams
from melt.data.params import DataParams
from melt.params_base import stage_params
from melt.publish.build import run
from melt.publish.params import PublishParams

if __name__ == "__main__":
    params = stage_params(data=DataParams, prompts=PromptsParams, derive=DeriveParams, publish=PublishParams)
    sections = {name: getattr(params, name).model_dump(mode="json") for name in ("data", "prompts", "derive")}
    summary = run(params.publish, sections=sections, melt_dir="data/melt", analysis_path="reports/analysis.json",
                  annotations_dir="data/annotations", out_dir="data/hub", reviewed_dir="data/melt_reviewed",
                  annotate_report_path="reports/annotate.json")
    print(f"built {summary['out_dir']}: " + ", ".join(f"{s} {n} rows" for s, n in summary["rows"].items())
          + f"; configs {', '.join(summary['configs'])}")
    if summary["pushed"]:
        p = summary["pushed"]
        print(f"pushed {p['repo_id']} ({'private' if p['private'] else 'public'}), commit {p['commit']}")
