"""erc_report: every row names its evaluation protocol, and MERITS-L's numbers appear only beside rows scored under
the paper's protocol (MELD: every test utterance with MELD labels; IEMOCAP: Session 5, 4 classes; CMU-MOSI: the
standard test folds) — never beside the MELT subset, MELT labels, the demo or another IEMOCAP test session."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from melt.erc.params import ErcParams
from melt.erc.names import MODELS
from melt.erc.protocols import protocol_rows
from melt.erc.report import PAPER, write_report

WEIGHTED = {"weighted_f1": 0.5, "acc": 0.5, "uar": 0.5}
MOSI = {"acc2_has0": 0.8, "f1_has0": 0.8, "acc2_non0": 0.9, "f1_non0": 0.9}


def write_metrics(folder: Path, name: str, protocols: list[str], values: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {p: {m: {k: round(v + 0.01 * i, 4) for k, v in values.items()} for i, m in enumerate(MODELS)}
               for p in protocols}
    (folder / f"{name}.json").write_text(json.dumps(metrics))


def report(tmp_path: Path, erc: ErcParams, metrics: dict[str, tuple[list[str], dict]]) -> tuple[pd.DataFrame, str, dict]:
    for name, (protocols, values) in metrics.items():
        write_metrics(tmp_path / "metrics", name, protocols, values)
    table = write_report(erc, tmp_path / "metrics", tmp_path / "erc.json", tmp_path / "table.md", tmp_path / "table.csv")
    return table, (tmp_path / "table.md").read_text(), json.loads((tmp_path / "erc.json").read_text())


def test_paper_numbers_only_beside_the_papers_protocol(tmp_path):
    erc = ErcParams.model_validate({"datasets": {"meld": "meld", "iemocap": "emo4", "cmumosi": "binary",
                                                 "demo": "meld"}})
    table, markdown, headline = report(tmp_path, erc, {
        "meld_meld": (["all", "melt_subset"], WEIGHTED), "iemocap_emo4": (["all"], WEIGHTED),
        "cmumosi_binary": (["all"], MOSI), "demo_meld": (["all", "melt_subset"], WEIGHTED)})
    paper = table[table["source"] == "paper (MERITS-L)"]
    assert sorted(zip(paper["model"], paper["protocol"])) == [("cmumosi_binary", "all"), ("iemocap_emo4", "all"),
                                                              ("meld_meld", "all")]
    row = paper[paper["model"] == "meld_meld"].iloc[0]
    assert row["fusion"] == PAPER[("meld", "meld")]["fusion"] == 66.0
    ours = table[table["source"] == "ours"]
    assert list(zip(ours["model"], ours["protocol"])) == [("meld_meld", "all"), ("meld_meld", "melt_subset"),
                                                          ("iemocap_emo4", "all"), ("cmumosi_binary", "all"),
                                                          ("demo_meld", "all"), ("demo_meld", "melt_subset")]
    assert ours[ours["model"] == "cmumosi_binary"]["fusion"].iloc[0] == 84.0     # has-0 weighted F1, in %
    # headline: 3 numbers under the protocol both label sets share, the fusion one under `all` (≤ 4 per dataset)
    assert headline["meld"] == {"all": {"fusion": 0.54}, "melt_subset": {"fusion": 0.54, "text": 0.51, "audio": 0.53}}
    assert headline["iemocap"] == {"all": {"fusion": 0.54, "text": 0.51, "audio": 0.53}}
    assert headline["cmumosi"] == {"all": {"fusion": 0.84, "text": 0.81, "audio": 0.83}}
    # every row names its protocol in the markdown, with a description of each
    assert "| meld_meld | all | paper (MERITS-L) |" in markdown and "| meld_meld | melt_subset | ours |" in markdown
    assert "`meld_meld` `melt_subset`: test turns of the MELT subset" in markdown
    assert "`iemocap_emo4` `all`: Session 5 test, 10% of the other sessions' dialogues validation" in markdown
    assert "`meld_meld` `all`: every utterance of the test split; MELD labels" in markdown
    written = pd.read_csv(tmp_path / "table.csv")
    assert list(zip(written["model"], written["protocol"], written["source"])) == list(
        zip(table["model"], table["protocol"], table["source"]))


def test_no_paper_numbers_for_melt_labels_or_another_test_session(tmp_path):
    erc = ErcParams.model_validate({"datasets": {"meld": "melt", "iemocap": "emo4"},
                                    "iemocap": {"test_session": 4}})
    table, _, headline = report(tmp_path, erc, {"meld_melt": (["melt_subset"], WEIGHTED),
                                                "iemocap_emo4": (["all"], WEIGHTED)})
    assert set(table["source"]) == {"ours"}
    assert headline["meld"] == {"melt_subset": {"fusion": 0.54, "text": 0.51, "audio": 0.53}}   # same columns as MELD's


def test_protocol_rows():
    table = pd.DataFrame({"label": ["joy", None, "anger", "joy"], "subset": ["melt", "melt", None, None]})
    meld = protocol_rows("meld", table)
    assert list(meld) == ["all", "melt_subset"]
    assert meld["all"].tolist() == [True, False, True, True] and meld["melt_subset"].tolist() == [True, False, False,
                                                                                                 False]
    assert list(protocol_rows("melt", table)) == ["melt_subset"]           # MELT labels: the subset only
    assert list(protocol_rows("emo4", table.assign(subset=None))) == ["all"]
