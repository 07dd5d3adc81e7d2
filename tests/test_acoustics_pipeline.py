"""The `acoustics` stage inside the full offline `dvc repro` of the demo (session fixture `reproduced`)."""

from __future__ import annotations

import json

import pandas as pd

from conftest import run
from melt.data.egemaps import N_FEATURES

SPLITS = ("train", "dev", "test")


def test_acoustics_stage_in_the_pipeline(reproduced):
    metrics = json.loads((reproduced / "reports" / "acoustics.json").read_text())
    headline = json.loads((reproduced / "metrics" / "acoustics.json").read_text())
    assert headline == {name: {"uar": metrics["splits"]["all"][name]["uar"]} for name in ("pitch", "loudness")}
    prepared = pd.concat([pd.read_csv(reproduced / "data" / "prepared" / f"{s}.csv") for s in SPLITS])
    melt = pd.concat([pd.read_csv(reproduced / "data" / "melt" / f"{s}.csv") for s in SPLITS])

    # Every prepared row is measured or recorded as a failure; the parquet holds the measured ones.
    features = pd.read_parquet(reproduced / "data" / "features" / "egemaps.parquet")
    failures = pd.read_csv(reproduced / "data" / "acoustics" / "audio_failures.csv")
    assert len(features) + len(failures) == len(prepared)
    assert len(features) == sum(a["measured"] for a in metrics["audio"].values()) > 0
    assert features.shape[1] == 5 + N_FEATURES and features["audio_sha256"].notna().all()

    # Every MELT row is accounted for on both sides, per characteristic.
    for name in ("pitch", "loudness"):
        m = metrics["splits"]["all"][name]
        assert m["rows"] == len(melt)
        assert m["mapped"] + m["unmappable"] + m["missing_description"] == len(melt)
        assert m["compared"] > 0 and 0.0 <= m["uar"] <= 1.0
    assert len(pd.read_csv(reproduced / "data" / "acoustics" / "levels.csv")) == len(melt)

    # The confusion plots render through DVC.
    shown = json.loads(run(["dvc", "plots", "show", "--json", "reports/acoustics_confusion_pitch.csv"], reproduced).stdout)
    values = shown["data"]["reports/acoustics_confusion_pitch.csv"][0]["content"]["data"]["values"]
    assert len(values) == metrics["splits"]["all"]["pitch"]["compared"]
    assert {v["measured"] for v in values} == {"low", "mid", "high"}
