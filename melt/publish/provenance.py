"""Where a published version came from: the params that shaped it, the registry release it belongs to, and what
actually answered. Nothing run-dependent (no time, no machine path, no git commit: a commit is an input no stage
declares, so a fresh clone would get other bytes): identical inputs give identical bytes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from melt.analysis.annotations import read_annotations

# The params the card and provenance.json record, per section. dvc.yaml's `publish` stage lists exactly
# these (plus the `publish` section, whose push keys decide whether it uploads), so e.g. a change of an
# annotator's `concurrency` does not re-run it (a test checks the two lists agree). The panel (what shapes each
# annotator's answers, and the aggregation) is recorded from data/melt/panel.json, a declared input.
PUBLISHED_PARAMS: dict[str, tuple[str, ...]] = {
    "data": ("source",),
    "prompts": ("show",),
    "derive": ("tie_break", "min_confidence"),
}
# The publish keys that shape the published files (push, private, endpoint and commit_message only act on the upload).
PUBLISH_KEYS = ("version", "pretty_name", "license", "include_audio", "repo_id")


def strip_userinfo(url: str | None) -> str | None:
    """A base URL without `user:password@` (params should never hold secrets; published files never do)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


def published_params(sections: dict[str, dict], panel: dict) -> dict:
    """The recorded params from `{section: model_dump(mode="json")}` and the panel (derive's panel.json): every
    annotator's base_url without credentials, labels files by file name only (their folder is a path of the
    build machine)."""
    out = {name: {k: sections[name][k] for k in keys} for name, keys in PUBLISHED_PARAMS.items()}
    annotators = {}
    for name, a in panel["annotators"].items():
        annotators[name] = {**a, "base_url": strip_userinfo(a.get("base_url")),
                            "labels_files": {s: Path(p).name for s, p in sorted((a.get("labels_files") or {}).items())}}
    out["annotate"] = {"aggregate": panel["aggregate"], "annotators": annotators}
    return out


def registry_tag(version: str) -> str:
    """The git tag of the registry release a build belongs to (the `melt-dataset` DVC artifact, docs/melt-dataset.md),
    from the declared `publish.version`."""
    return f"melt-dataset@v{version}"


def annotation_sources(annotations_dir: Path, splits: tuple[str, ...]) -> dict:
    """Which backends and models actually answered (from the records, not from params)."""
    backends, models, samples = Counter(), Counter(), Counter()
    for split in splits:
        for answers in read_annotations(Path(annotations_dir) / f"{split}.jsonl", split).values():
            samples[len(answers)] += 1
            for a in answers:
                backends[a.backend or "unknown"] += 1
                models[a.model or "unknown"] += 1
    return {"backends": _by_count(backends), "models": _by_count(models),
            "samples_per_utterance": {str(k): v for k, v in sorted(samples.items())}}


def _by_count(counter: Counter) -> dict:
    # ties in a fixed order (most_common keeps insertion order, which follows the files)
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
