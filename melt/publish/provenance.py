"""Where a published version came from: params, and the dvc.lock hashes of everything upstream."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from melt.analysis.annotations import read_annotations

UPSTREAM_STAGES = ("prepare", "prompts", "annotate", "derive", "analyze")


def strip_userinfo(url: str | None) -> str | None:
    """A base URL without `user:password@` (params should never hold secrets; published files never do)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


def lock_hashes(lock_path: Path) -> dict:
    """Per upstream stage, the md5 of each dep and out as dvc.lock records them ({} when no lock yet)."""
    if not Path(lock_path).is_file():
        return {}
    lock = yaml.safe_load(Path(lock_path).read_text(encoding="utf-8")) or {}
    out = {}
    for name, stage in (lock.get("stages") or {}).items():
        if name not in UPSTREAM_STAGES:
            continue
        out[name] = {kind: {e["path"]: e.get("md5") for e in stage.get(kind) or []} for kind in ("deps", "outs")}
    return out


def annotation_sources(annotations_dir: Path, splits: tuple[str, ...]) -> dict:
    """Which backends and models actually answered (from the records, not from params)."""
    backends, models, samples = Counter(), Counter(), Counter()
    for split in splits:
        for answers in read_annotations(Path(annotations_dir) / f"{split}.jsonl", split).values():
            samples[len(answers)] += 1
            for a in answers:
                backends[a.backend or "unknown"] += 1
                models[a.model or "unknown"] += 1
    return {"backends": dict(backends.most_common()), "models": dict(models.most_common()),
            "samples_per_utterance": {str(k): v for k, v in sorted(samples.items())}}
