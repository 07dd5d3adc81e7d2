"""A fresh copy of the repository runs `dvc repro` offline; the prepare stage's outputs are right."""

from __future__ import annotations

import json

import pandas as pd

from conftest import run


def test_prepare_outputs_on_demo(reproduced):
    metrics = json.loads((reproduced / "reports/prepare.json").read_text())
    assert metrics["source"] == "demo"
    total_in = sum(len(pd.read_csv(reproduced / f"demo/sitcom/{s}_sent_emo.csv")) for s in ("train", "dev", "test"))
    excluded = pd.read_csv(reproduced / "data/prepared/excluded.csv")
    kept = {s: pd.read_csv(reproduced / f"data/prepared/{s}.csv") for s in ("train", "dev", "test")}
    assert sum(map(len, kept.values())) + len(excluded) == total_in
    assert sum(len(df) for df in kept.values()) >= 200
    assert excluded["reason"].notna().all() and set(excluded["reason"]) >= {"too_few_words", "generic_speaker"}
    for split, df in kept.items():
        assert metrics["table1"][split]["utterances"] == len(df)
        assert set(df["duration_source"]) == {"audio"}
        assert all((reproduced / p).is_file() for p in df["audio_path"])
    assert len(metrics["speakers"]) >= 5
    headline = json.loads((reproduced / "metrics/prepare.json").read_text())
    assert headline == {split: {"kept": len(df)} for split, df in kept.items()}


def test_repro_is_up_to_date_after_run(reproduced):
    assert "up to date" in run(["dvc", "status"], reproduced).stdout.lower()
