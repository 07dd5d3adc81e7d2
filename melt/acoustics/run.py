"""The `acoustics` stage: eGeMAPS for every prepared utterance with audio, then the LLM's pitch and
loudness descriptions checked against the measured levels (paper Table 4).

Headline metrics (DVC metrics): UAR per characteristic over all splits. Everything else (per split scores
and counts, level distributions, cut points, audio failures, unmappable descriptions) goes to the report;
the scored rows go to one confusion CSV per characteristic (DVC plots)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from melt.acoustics.descriptions import CHARACTERISTICS, load_rules
from melt.acoustics.params import AcousticsParams
from melt.acoustics.validate import KEY, acoustic_levels, describe_levels, join, summarize, unmappable_list
from melt.acoustics.extract import extract
from melt.compute.params import ComputeParams
from melt.data.egemaps import FAILURE_KINDS
from melt.data.meld import SPLITS
from melt.io import atomic_open, write_csv, write_json
from melt.repo import shared_path

PREPARED_COLUMNS = [*KEY, "filename", "Speaker", "audio_path"]
MELT_COLUMNS = [*KEY, *CHARACTERISTICS]
FEATURE_KEY = [*KEY, "filename"]


def _read_csv(path: Path, columns: list[str], what: str) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found (run the stages before `acoustics`)")
    df = pd.read_csv(path, dtype={"audio_path": "string", "pitch": "string", "loudness": "string"},
                     keep_default_na=True)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    if not df.empty and (df["split"].astype(str) != path.stem).any():
        row = int((df["split"].astype(str) != path.stem).to_numpy().argmax()) + 2
        raise ValueError(f"{path}: line {row} has split {df['split'].iloc[row - 2]!r}, expected {path.stem!r}")
    return df


def read_prepared(prepared_dir: Path) -> pd.DataFrame:
    frames = [_read_csv(Path(prepared_dir) / f"{s}.csv", PREPARED_COLUMNS, "prepared rows") for s in SPLITS]
    rows = pd.concat([f[PREPARED_COLUMNS] for f in frames], ignore_index=True)
    rows["audio_path"] = rows["audio_path"].fillna("").astype(str)
    return rows.rename(columns={"Speaker": "speaker"})


def read_melt(melt_dir: Path) -> pd.DataFrame:
    frames = []
    for split in SPLITS:
        path = Path(melt_dir) / f"{split}.csv"
        df = _read_csv(path, MELT_COLUMNS, "MELT CSV")
        dup = df.duplicated(KEY, keep="first").to_numpy()
        if dup.any():
            line = int(dup.argmax()) + 2
            raise ValueError(f"{path}: line {line} repeats dialogue_id/utterance_id of an earlier row")
        frames.append(df[MELT_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def measure(rows: pd.DataFrame, params: AcousticsParams, compute: ComputeParams, progress: bool = True):
    """eGeMAPS per prepared row with audio.

    Returns the parquet table (measured rows: key, audio_sha256, 88 features), the features aligned
    with `rows` (NaN when not measured), each row's audio status (measured / no_audio /
    audio_failed) and the failure rows with their reasons.
    """
    has_audio = rows["audio_path"] != ""
    # One eGeMAPS cache per repository, shared by the workspace and every `dvc exp run --temp/--queue` copy.
    cache_dir = None if params.cache_dir is None else shared_path(params.cache_dir, "cache/egemaps")
    result = extract(rows.loc[has_audio, "audio_path"], compute, compute.acoustics, cache_dir=cache_dir,
                     progress=progress)
    per_row = result.features.reindex(rows["audio_path"].where(has_audio)).set_axis(rows.index)
    reason = dict(zip(result.failures["path"], result.failures["reason"]))
    status = pd.Series("measured", index=rows.index, dtype="object")
    status[~has_audio] = "no_audio"
    failed = has_audio & rows["audio_path"].isin(reason)
    status[failed] = "audio_failed"

    table = rows.loc[status == "measured", FEATURE_KEY].copy()
    table["audio_sha256"] = rows.loc[table.index, "audio_path"].map(result.sha256)
    table = pd.concat([table, per_row.loc[table.index]], axis=1).reset_index(drop=True)

    failures = rows.loc[status != "measured", [*FEATURE_KEY, "audio_path"]].copy()
    no_audio = "no audio: the prepared row has no audio_path"
    failures["reason"] = [reason[p] if p else no_audio for p in failures["audio_path"]]
    return table, per_row, status, failures


def _count_kinds(reasons: pd.Series) -> dict[str, int]:
    """Failures by kind, every kind present (zeros too) so `dvc metrics diff` lines up across runs."""
    counts = Counter(r.split(":")[0] for r in reasons)
    return {kind: counts.pop(kind, 0) for kind in ("no audio", *FAILURE_KINDS)} | dict(counts)


def headline(report: dict) -> dict:
    """The DVC metrics: UAR of each characteristic over all splits (null when nothing was scored)."""
    return {name: {"uar": report["splits"]["all"][name]["uar"]} for name in CHARACTERISTICS}


def run(params: AcousticsParams, prepared_dir: Path, melt_dir: Path, features_path: Path, out_dir: Path,
        metrics_path: Path, report_path: Path, plots_dir: Path, compute: ComputeParams | None = None,
        progress: bool = True) -> dict:
    """Write the parquet, `out_dir`'s CSVs, the headline metrics, the report and the confusion plots;
    returns the report."""
    rules = load_rules(params.rules)  # fail on a bad rules file before minutes of extraction
    rows = read_prepared(prepared_dir)
    melt = read_melt(melt_dir)

    table, per_row, audio_status, failures = measure(rows, params, compute or ComputeParams(), progress)
    features_path = Path(features_path)
    features_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(features_path, "wb") as f:
        table.to_parquet(f, index=False)

    acoustic, cuts = acoustic_levels(rows.assign(audio_status=audio_status), per_row,
                                     params.normalize, params.low_quantile, params.high_quantile)
    compared = join(describe_levels(melt, rules), acoustic.drop(columns=["audio_status"]))

    out_dir = Path(out_dir)
    write_csv(failures, out_dir / "audio_failures.csv")
    write_csv(compared, out_dir / "levels.csv")
    for name in CHARACTERISTICS:
        scored = compared[(compared[f"{name}_status"] == "measured")
                          & (compared[f"{name}_description_status"] == "mapped")]
        plot = scored[["split", f"{name}_acoustic", f"{name}_described"]]
        write_csv(plot.set_axis(["split", "measured", "described"], axis=1),
                  Path(plots_dir) / f"acoustics_confusion_{name}.csv")

    report = {
        "normalize": params.normalize,
        "quantiles": {"low": params.low_quantile, "high": params.high_quantile},
        "cut_points": cuts,
        "audio": {split: {"prepared": int((rows["split"] == split).sum()),
                          **{s: int(((rows["split"] == split) & (audio_status == s)).sum())
                             for s in ("measured", "no_audio", "audio_failed")}} for split in SPLITS},
        "audio_failure_reasons": _count_kinds(failures["reason"]),
        "splits": summarize(compared, list(SPLITS)),
        "unmappable": {name: unmappable_list(compared, name) for name in CHARACTERISTICS},
    }
    write_json(report_path, report)
    write_json(metrics_path, headline(report))
    return report
