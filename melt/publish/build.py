"""The `publish` stage: MELT CSVs + analysis → a Hub dataset repository folder (card, Parquet, provenance),
pushed to the Hub when `publish.push` is on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from melt.data.labels import EMOTIONS
from melt.data.meld import SPLITS
from melt.io import sha256_file, write_json, write_text
from melt.publish.card import card_data, render_card
from melt.publish.dataset import PublishError, build_splits
from melt.publish.params import PublishParams
from melt.publish.provenance import annotation_sources, lock_hashes, strip_userinfo
from melt.publish.push import push_folder, push_token


def _card_context(params: PublishParams, pipeline: dict, analysis: dict, sources: dict, lock: dict,
                  template: Path) -> dict:
    stats = analysis.get("splits", {})
    out_of_set = {}
    for s in stats.values():
        for k, v in s.get("out_of_set_labels", {}).items():
            out_of_set[k] = out_of_set.get(k, 0) + v
    cache_md5 = (lock.get("annotate", {}).get("outs") or {}).get("cache/llm")
    text = template.read_text(encoding="utf-8").rstrip()
    return dict(
        pretty_name=params.pretty_name, repo_id=params.repo_id or "<user>/<name>", audio=params.include_audio,
        emotions=EMOTIONS, license=params.license, source=pipeline.get("data", {}).get("source", "?"),
        template=pipeline.get("prompts", {}).get("template", "?"), template_text=text,
        template_sha256=sha256_file(template),
        annotate=pipeline.get("annotate", {}), derive=pipeline.get("derive", {}), sources=sources,
        cache_md5=cache_md5, stats=stats, out_of_set=dict(sorted(out_of_set.items(), key=lambda kv: -kv[1])),
        has_alpha=any(s.get("samples_agreement", {}).get("alpha") is not None for s in stats.values()),
    )


def _sanitized(pipeline: dict) -> dict:
    out = json.loads(json.dumps(pipeline, default=str))
    if "annotate" in out:
        out["annotate"]["base_url"] = strip_userinfo(out["annotate"].get("base_url"))
    return out


def run(params: PublishParams, *, pipeline: dict, melt_dir: str | Path, analysis_path: str | Path,
        annotations_dir: str | Path, lock_path: str | Path, out_dir: str | Path,
        root: str | Path = ".") -> dict:
    """pipeline: the other params sections for the card and provenance (data, prompts, annotate, derive, analyze)."""
    token = push_token(params) if params.push else None  # fail before any work
    melt_dir, out_dir = Path(melt_dir), Path(out_dir)
    template_path = Path(root) / "prompts" / f"{pipeline.get('prompts', {}).get('template', '')}.txt"
    if not template_path.is_file():
        raise PublishError(f"{template_path}: prompt template not found (the card documents the prompt used)")
    dsd = build_splits(melt_dir, SPLITS, params.include_audio, Path(root))   # reads and checks the MELT CSVs
    analysis = json.loads(Path(analysis_path).read_text(encoding="utf-8"))
    lock = lock_hashes(Path(lock_path))
    sources = annotation_sources(Path(annotations_dir), SPLITS)

    staging = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    data_files = {split: f"data/{split}.parquet" for split in SPLITS}
    for split, ds in dsd.items():
        (staging / "data").mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(staging / data_files[split]))

    inputs = [*(melt_dir / f"{s}.csv" for s in SPLITS), melt_dir / "excluded.csv", Path(analysis_path)]
    provenance = {
        "params": {"publish": params.model_dump(mode="json"), **_sanitized(pipeline)},
        "dvc_lock": lock,
        "inputs_sha256": {p.as_posix(): sha256_file(p) for p in inputs if p.is_file()},
        "files_sha256": {f: sha256_file(staging / f) for f in data_files.values()},
        "rows": {split: len(ds) for split, ds in dsd.items()},
        "annotation_sources": sources,
    }
    write_json(staging / "provenance.json", provenance)
    context = _card_context(params, pipeline, analysis, sources, lock, template_path)
    write_text(staging / "README.md", render_card(card_data(dsd, data_files, params.pretty_name, params.license), **context))
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)

    summary = {"out_dir": out_dir.as_posix(), "rows": provenance["rows"], "pushed": None}
    if params.push:
        summary["pushed"] = push_folder(out_dir, params, token)
    return summary
