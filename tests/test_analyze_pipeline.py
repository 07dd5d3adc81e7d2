"""derive → analyze → publish inside the full offline `dvc repro` on the demo corpus."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import yaml
from datasets import load_dataset
from sklearn.metrics import cohen_kappa_score

from conftest import run
from melt.analysis.layout import MELT_COLUMNS
from melt.data.labels import EMOTIONS

SPLITS = ("train", "dev", "test")


def test_every_prepared_row_is_labelled_or_excluded(reproduced):
    excluded = pd.read_csv(reproduced / "data/melt/excluded.csv")
    derive = json.loads((reproduced / "reports/derive.json").read_text())
    labelled = sum(len(pd.read_csv(reproduced / f"data/melt/{s}.csv")) for s in SPLITS)
    assert json.loads((reproduced / "metrics/derive.json").read_text()) == {"labelled": labelled}
    assert sum(s["excluded"] for s in derive["splits"].values()) == len(excluded)
    for split in SPLITS:
        prepared = pd.read_csv(reproduced / f"data/prepared/{split}.csv")
        melt = pd.read_csv(reproduced / f"data/melt/{split}.csv")
        assert list(melt.columns)[: len(MELT_COLUMNS)] == list(MELT_COLUMNS)   # then the panel's columns
        assert len(melt) + (excluded["split"] == split).sum() == len(prepared) > 0
        assert set(melt["llm_label"]) <= set(EMOTIONS)
        assert derive["splits"][split]["labelled"] == len(melt)


def test_analysis_metrics_and_confusion_plot_render(reproduced, tmp_path):
    report = json.loads((reproduced / "reports/analysis.json").read_text())
    headline = json.loads((reproduced / "metrics/analysis.json").read_text())
    for split in SPLITS:
        r = report["splits"][split]
        melt = pd.read_csv(reproduced / f"data/melt/{split}.csv")
        assert r["rows"] == len(melt)
        assert sum(map(sum, r["confusion"]["matrix"])) == r["n"] == len(melt)
        assert r["change_rate"] == round(float((melt["Emotion"] != melt["llm_label"]).mean()), 4)
        assert headline[split] == {"change_rate": r["change_rate"],
                                   "kappa": round(cohen_kappa_score(melt["Emotion"], melt["llm_label"]), 4)}
    shown = json.loads(run(["dvc", "plots", "show", "--json"], reproduced).stdout)["data"]
    plot = shown["reports/analysis_confusion/test.csv"][0]
    spec = plot["content"].get("spec", plot["content"])
    assert spec["encoding"]["x"]["field"] == "melt" and spec["encoding"]["y"]["field"] == "meld"
    assert len(plot["content"]["data"]["values"]) == report["splits"]["test"]["rows"]
    html_dir = tmp_path / "plots-html"
    run(["dvc", "plots", "show", "-o", str(html_dir)], reproduced)
    assert "analysis_confusion" in (html_dir / "index.html").read_text()


def test_published_repo_loads(reproduced, tmp_path):
    ds = load_dataset(str(reproduced / "data/hub"), cache_dir=str(tmp_path / "hf"))
    assert list(ds) == ["train", "validation", "test"]
    for split, hub_split in zip(SPLITS, ds):
        assert ds[hub_split].features["llm_label"].names == list(EMOTIONS)
        assert len(ds[hub_split]) == len(pd.read_csv(reproduced / f"data/melt/{split}.csv"))
    prov = json.loads((reproduced / "data/hub/provenance.json").read_text())
    version = yaml.safe_load((reproduced / "params.yaml").read_text())["publish"]["version"]
    assert prov["registry_tag"] == f"melt-dataset@v{version}" and "git_commit" not in prov
    assert f"git tag `melt-dataset@v{version}`" in (reproduced / "data/hub/README.md").read_text()
    assert prov["inputs_sha256"]["reports/analysis.json"] == hashlib.sha256(
        (reproduced / "reports/analysis.json").read_bytes()).hexdigest()


def test_stages_go_stale_only_when_a_param_they_use_changes(reproduced, tmp_path):
    """A param the card/provenance does not record (an annotator's concurrency) leaves publish up to date; one it
    records (prompts.show) makes it stale; prepare ignores the parallelism of its conversions. DVC decides, from
    dvc.yaml and dvc.lock."""
    repo = tmp_path / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    original = (repo / "params.yaml").read_text()

    def status_after(key: str, value, stage: str = "publish") -> str:
        params = yaml.safe_load(original)
        *path, name = key.split(".")
        node = params
        for part in path:
            node = node[part]
        node[name] = value
        (repo / "params.yaml").write_text(yaml.safe_dump(params))
        return run(["dvc", "status", stage], repo).stdout

    assert "up to date" in status_after("annotate.annotators.text_heuristic.concurrency", 3).lower()
    assert "up to date" in status_after("prepare.convert_workers", 1, "prepare").lower()
    assert "prepare.min_words" in status_after("prepare.min_words", 2, "prepare")
    stale = status_after("prompts.show", "Another Show")
    assert "publish" in stale and "prompts.show" in stale
