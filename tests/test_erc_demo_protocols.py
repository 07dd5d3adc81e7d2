"""The demo's ERC outputs after `dvc repro` (the shared `reproduced` repository, read only): every demo utterance is
a turn, the MELT subset is prepare's kept rows, and metrics, headline and table are per evaluation protocol."""

from __future__ import annotations

import json

import pandas as pd

from melt.erc.names import MODELS

HEADLINE_SHARE = 4   # ERC's share of the demo's declared metrics


def test_demo_erc_outputs_per_protocol(reproduced):
    prepared = {s: pd.read_csv(reproduced / "data" / "prepared" / f"{s}.csv") for s in ("train", "dev", "test")}
    aside = pd.read_csv(reproduced / "data" / "prepared" / "excluded.csv")
    turns = pd.read_csv(reproduced / "data" / "erc" / "demo.csv")
    assert len(turns) == sum(len(df) for df in prepared.values()) + len(aside)     # every utterance is a turn
    assert (turns["subset"] == "melt").sum() == sum(len(df) for df in prepared.values())
    assert pd.read_csv(reproduced / "data" / "erc" / "demo_excluded.csv").empty
    test = turns[turns["split"] == "test"]

    metrics = json.loads((reproduced / "metrics" / "erc" / "demo_meld.json").read_text())
    assert set(metrics) == {"all", "melt_subset"}
    assert all(set(m) == set(MODELS) and all(set(v) == {"weighted_f1", "acc", "uar"} for v in m.values())
               for m in metrics.values())
    report = json.loads((reproduced / "reports" / "erc" / "demo_meld" / "report.json").read_text())
    assert report["protocols"]["all"]["labelled_turns"] == len(test)
    assert report["protocols"]["melt_subset"]["labelled_turns"] == len(prepared["test"])

    headline = json.loads((reproduced / "metrics" / "erc.json").read_text())
    assert headline == {"demo": {"all": {"fusion": metrics["all"]["fusion"]["weighted_f1"]},
                                 "melt_subset": {"fusion": metrics["melt_subset"]["fusion"]["weighted_f1"],
                                                 "text": metrics["melt_subset"]["text_dialogue"]["weighted_f1"],
                                                 "audio": metrics["melt_subset"]["audio_dialogue"]["weighted_f1"]}}}
    assert sum(len(v) for p in headline.values() for v in p.values()) <= HEADLINE_SHARE
    table = pd.read_csv(reproduced / "metrics" / "erc_table.csv")
    assert list(zip(table["model"], table["protocol"], table["source"])) == [("demo_meld", "all", "ours"),
                                                                             ("demo_meld", "melt_subset", "ours")]
    assert list(table["fusion"]) == [round(100 * metrics[p]["fusion"]["weighted_f1"], 2)
                                     for p in ("all", "melt_subset")]
