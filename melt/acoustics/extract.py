"""eGeMAPS of every file the `acoustics` stage measures: hashes and the content-hash cache in this process,
openSMILE through melt.compute.runner (local processes or Ray actors) for the content not cached yet.

Only this process writes the cache (one writer); the same bytes under two names are measured once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from melt.compute.extractors import EgemapsModel
from melt.compute.params import ActorResources, ComputeParams
from melt.compute.runner import Failure, ModelSpec, run_model
from melt.data.egemaps import feature_names, read_cache, write_cache
from melt.io import sha256_file


@dataclass(frozen=True)
class Extraction:
    """Features (88 columns, indexed by path), failures (path, reason), content hash per path."""

    features: pd.DataFrame
    failures: pd.DataFrame
    sha256: pd.Series


def _hash(path: str) -> tuple[str | None, str | None]:
    try:
        return sha256_file(path), None
    except FileNotFoundError:
        return None, f"missing: no file {path}"
    except OSError as err:
        return None, f"unreadable: {err}"


def extract(paths, compute: ComputeParams | None = None, resources: ActorResources | None = None,
            cache_dir: Path | None = None, progress: bool = True) -> Extraction:
    """eGeMAPSv02 functionals per file (each distinct path once), with failure reasons and content hashes."""
    compute = compute or ComputeParams()
    resources = resources or compute.acoustics
    unique = list(dict.fromkeys(str(p) for p in paths))
    cache_dir = Path(cache_dir) if cache_dir is not None else None
    sha, reason, values = {}, {}, {}
    by_content: dict[str, list[str]] = {}
    for path in unique:
        sha[path], reason[path] = _hash(path)
        if sha[path] is None:
            continue
        cached = read_cache(cache_dir, sha[path])
        if cached is not None:
            values[path] = cached
        else:
            by_content.setdefault(sha[path], []).append(path)

    names = feature_names()

    def store(content: str, result) -> None:
        for path in by_content[content]:
            if isinstance(result, Failure):
                reason[path] = result.reason
            else:
                values[path] = dict(zip(names, map(float, result)))
        if not isinstance(result, Failure):
            write_cache(cache_dir, content, values[by_content[content][0]])

    items = [(content, files[0]) for content, files in sorted(by_content.items())]
    run_model(ModelSpec(EgemapsModel), items, store, compute, resources, desc="eGeMAPS", progress=progress)

    features = pd.DataFrame.from_dict(values, orient="index", columns=names, dtype="float64")
    features = features.reindex([p for p in unique if p in values])
    features.index.name = "path"
    failures = pd.DataFrame([{"path": p, "reason": reason[p]} for p in unique if p not in values],
                            columns=["path", "reason"])
    return Extraction(features, failures, pd.Series(sha, name="audio_sha256", dtype="object").reindex(unique))

