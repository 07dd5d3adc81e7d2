"""The `publish` stage: MELT CSVs + the analysis report → a Hub dataset repository folder (card, Parquet,
excluded.csv, provenance), pushed to the Hub when `publish.push` is on.

The folder depends only on its declared inputs and params: no time, no path of the build machine, no git commit
(the release is named by the tag of `publish.version`), nothing read from dvc.lock.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from melt.data.labels import EMOTIONS
from melt.data.meld import SPLITS
from melt.io import atomic_open, sha256_file, write_csv, write_json, write_text
from melt.publish.card import DEFAULT_TITLES, card_data, render_card, resolve_license
from melt.publish.dataset import HUB_SPLITS, PublishError, build_splits, published_exclusions
from melt.publish.params import PublishParams
from melt.publish.provenance import PUBLISH_KEYS, annotation_sources, published_params, registry_tag
from melt.publish.push import push_folder, push_token
from melt.publish.reviewed import CONFIG as REVIEWED, build_reviewed

EXCLUDED_FILE = "excluded.csv"


def _rel(path: Path, root: Path) -> str:
    """A path as recorded in provenance: relative to the repository, never the machine's absolute path."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _out_of_set(stats: dict) -> dict:
    total: dict[str, int] = {}
    for s in stats.values():
        for k, v in s.get("out_of_set_labels", {}).items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _panel_table(recorded: dict, sources: dict, analysis: dict, annotate_report: dict) -> list[dict]:
    """One card row per annotator: settings (from panel.json), what answered (from its records), its agreement
    with MELD (analysis) and what its answers cost when bought (annotate's report)."""
    rows = []
    stats = (analysis.get("panel") or {}).get("annotators", {})
    costs = annotate_report.get("annotators", {})
    for name, a in recorded["annotate"]["annotators"].items():
        rows.append({"name": name, **a, "sources": sources[name], "kappa_vs_meld": stats.get(name, {}).get("kappa_vs_meld"),
                     "labelled": stats.get(name, {}).get("labelled"),
                     "cost_usd": costs.get(name, {}).get("answers_cost_usd", 0.0)})
    return rows


def _card_context(params: PublishParams, recorded: dict, analysis: dict, sources: dict, rows: dict,
                  excluded: dict, templates: dict[str, Path], license: str, reviewed: dict | None,
                  annotate_report: dict) -> dict:
    """Everything the card template shows; `stats` per published split under its Hub name."""
    stats = {HUB_SPLITS[s]: r for s, r in analysis.get("splits", {}).items() if HUB_SPLITS[s] in rows}
    panel = _panel_table(recorded, sources, analysis, annotate_report)
    alpha = ((analysis.get("panel") or {}).get("alpha") or {}).get("alpha")
    return dict(
        pretty_name=params.pretty_name or DEFAULT_TITLES[recorded["data"]["source"]],
        repo_id=params.repo_id or "<user>/<name>", audio=params.include_audio, emotions=EMOTIONS,
        license=license, version=params.version, tag=registry_tag(params.version), source=recorded["data"]["source"],
        show=recorded["prompts"]["show"], panel=panel, aggregate=recorded["annotate"]["aggregate"],
        panel_alpha=alpha, hears_audio=any(a["input"] != "text" for a in panel),
        offline=any(a["backend"] == "offline" for a in panel),
        templates={name: path.read_text(encoding="utf-8").rstrip() for name, path in templates.items()},
        total_cost_usd=round(sum(a["cost_usd"] for a in panel), 6),
        derive=recorded["derive"], stats=stats, rows=rows,
        excluded=excluded, excluded_file=EXCLUDED_FILE, out_of_set=_out_of_set(stats),
        empty_splits=[HUB_SPLITS[s] for s in SPLITS if HUB_SPLITS[s] not in rows],
        has_alpha=any(a.get("samples_agreement", {}).get("alpha") is not None for s in stats.values()
                      for a in s.get("annotators", {}).values()),
        reviewed=reviewed, reviewed_config=REVIEWED,
    )


def _templates(panel: dict, root: Path) -> dict[str, Path]:
    """The prompt templates the panel used, each checked against the sha256 its requests were rendered with."""
    out = {}
    for name, a in panel["annotators"].items():
        path = root / "prompts" / f"{a['prompt']}.txt"
        if not path.is_file():
            raise PublishError(f"{path}: prompt template of annotator {name!r} not found (the card documents it)")
        if a.get("prompt_sha256") and sha256_file(path) != a["prompt_sha256"]:
            raise PublishError(f"{path}: changed since annotator {name!r}'s requests were rendered from it "
                               f"(re-run `dvc repro`)")
        out[a["prompt"]] = path
    return out


def run(params: PublishParams, *, sections: dict[str, dict], melt_dir: str | Path, analysis_path: str | Path,
        annotations_dir: str | Path, out_dir: str | Path, root: str | Path = ".",
        reviewed_dir: str | Path | None = None, annotate_report_path: str | Path | None = None) -> dict:
    """sections: `{name: params.<name>.model_dump(mode="json")}` for data, prompts and derive; only the keys in
    `provenance.PUBLISHED_PARAMS` are used; the panel comes from `<melt_dir>/panel.json`. reviewed_dir:
    `data/melt_reviewed`, published as the `reviewed` config when a row in it has a reviewer's decision.
    annotate_report_path: reports/annotate.json, for what each annotator's answers cost."""
    token = push_token(params) if params.push else None  # fail before any work
    root, melt_dir, out_dir = Path(root), Path(melt_dir), Path(out_dir)
    panel_path = melt_dir / "panel.json"
    if not panel_path.is_file():
        raise PublishError(f"{panel_path}: file not found (derive writes it: run the derive stage)")
    panel = json.loads(panel_path.read_text(encoding="utf-8"))
    recorded = published_params(sections, panel)
    try:
        license = resolve_license(recorded["data"]["source"], params.license)
    except ValueError as err:
        raise PublishError(str(err)) from None
    templates = _templates(panel, root)
    dsd = build_splits(melt_dir, SPLITS, params.include_audio, root)   # reads and checks the MELT CSVs
    analysis = json.loads(Path(analysis_path).read_text(encoding="utf-8"))
    annotate_report = (json.loads(Path(annotate_report_path).read_text(encoding="utf-8"))
                       if annotate_report_path is not None else {})
    sources = {name: annotation_sources(Path(annotations_dir) / name, SPLITS) for name in panel["annotators"]}
    excluded = published_exclusions(melt_dir / "excluded.csv")
    reviewed_dsd, reviewed_rows = (build_reviewed(Path(reviewed_dir), dsd, SPLITS, params.include_audio, root)
                                   if reviewed_dir is not None else (None, {}))

    shutil.rmtree(out_dir, ignore_errors=True)   # a split left empty since the last build must not linger
    data_files = {split: f"data/{split}.parquet" for split in dsd}
    configs = {"default": (dsd, data_files)}
    if reviewed_dsd is not None:
        configs[REVIEWED] = (reviewed_dsd, {split: f"{REVIEWED}/{split}.parquet" for split in reviewed_dsd})
    for splits, files in configs.values():
        for split, ds in splits.items():
            with atomic_open(out_dir / files[split], "wb") as f:
                ds.to_parquet(f)
    write_csv(excluded, out_dir / EXCLUDED_FILE)

    inputs = [*(melt_dir / f"{s}.csv" for s in SPLITS), melt_dir / "excluded.csv", panel_path, Path(analysis_path),
              *(Path(annotations_dir) / n / f"{s}.jsonl" for n in panel["annotators"] for s in SPLITS),
              *templates.values(), *([Path(annotate_report_path)] if annotate_report_path is not None else []),
              *((Path(reviewed_dir) / f"{s}.csv" for s in SPLITS) if reviewed_dsd is not None else ())]
    published = [f for _, files in configs.values() for f in files.values()]
    rows = {split: len(ds) for split, ds in dsd.items()}
    provenance = {
        "version": params.version,
        "registry_tag": registry_tag(params.version),
        "params": {"publish": {k: getattr(params, k) for k in PUBLISH_KEYS} | {"license": license}, **recorded},
        "inputs_sha256": {_rel(p, root): sha256_file(p) for p in inputs},
        "files_sha256": {f: sha256_file(out_dir / f) for f in (*published, EXCLUDED_FILE)},
        "rows": rows,
        "excluded_rows": {s: int((excluded["split"] == s).sum()) for s in HUB_SPLITS.values()},
        "annotation_sources": sources,
        "reviewed_rows": reviewed_rows,
        "configs": list(configs),
    }
    write_json(out_dir / "provenance.json", provenance)
    context = _card_context(params, recorded, analysis, sources, rows, provenance["excluded_rows"], templates,
                            license, reviewed_rows if reviewed_dsd is not None else None, annotate_report)
    data = card_data(configs, context["pretty_name"], license, recorded["data"]["source"])
    write_text(out_dir / "README.md", render_card(data, **context))

    summary = {"out_dir": out_dir.as_posix(), "rows": rows, "configs": list(configs), "pushed": None}
    if params.push:
        summary["pushed"] = push_folder(out_dir, params, token)
    return summary
