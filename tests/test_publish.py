"""publish: data/hub is a Hub dataset repository that `datasets.load_dataset` reads with the ClassLabel feature."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tomllib

import pandas as pd
import pytest
import soundfile as sf
import yaml
from datasets import Audio, ClassLabel, load_dataset

from conftest import REPO, run, write_tone
from derive_fixtures import (import_labels_files, released_melt_files, write_annotations, write_panel_json,
                             write_prepared)
from melt.analysis import analyze, derive
from melt.analysis.params import AnalyzeParams, DeriveParams
from melt.annotate.params import PromptsParams
from melt.data.labels import EMOTIONS
from melt.data.params import DataParams
from melt.publish.build import run as publish
from melt.publish.card import SOURCE_LICENSES
from melt.publish.dataset import PUBLISHED_COLUMNS, PUBLISHED_EXCLUDED_COLUMNS, PublishError
from melt.publish.params import PublishParams
from melt.publish.provenance import PUBLISHED_PARAMS
from melt.publish.reviewed import REVIEW_COLUMNS
from melt.study.review_apply import REVIEW_COLUMNS as study_review_columns

SPLITS = ("train", "validation", "test")   # Hub names: MELD's dev is published as validation
SECRET_URL = "http://user:secret-pass@llm.local:8000/v1"


def sections(source="demo", derive_params=DeriveParams()) -> dict:
    """The params sections publish records (the panel comes from data/melt/panel.json)."""
    data = DataParams(source=source, meld_dir="/somewhere/MELD" if source == "meld" else None)
    return {"data": data.model_dump(mode="json"), "prompts": PromptsParams().model_dump(mode="json"),
            "derive": derive_params.model_dump(mode="json")}


def build_inputs(root, samples=2, labels_splits=None, derive_params=DeriveParams()):
    """The stages' inputs of `publish` under `root`, where the stages write them. labels_splits: import labels
    files for these splits only (annotate backend labels-file) instead of offline-style answers."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "prompts/melt-v1.txt", root / "prompts/melt-v1.txt")   # the card quotes the template
    prepared = write_prepared(root / "data/prepared")
    if labels_splits is None:
        write_annotations(root / "data/annotations", prepared, samples=samples)
        # a panel.json that (wrongly) kept credentials in base_url: publish still never shows them
        write_panel_json(root / "data/annotations", {"llm": samples}, base_url=SECRET_URL)
    else:
        files = released_melt_files(root / "released", prepared, splits=labels_splits)
        import_labels_files(files, root / "data/prepared", root / "data/prompts", root / "data/annotations", root / "work",
                            REPO / "prompts")
    derive.run(derive_params, root / "data/prepared", root / "data/annotations", root / "data/melt",
               root / "metrics/derive.json", root / "reports/derive.json")
    analyze.run(AnalyzeParams(), root / "data/melt", root / "data/annotations", root / "metrics/analysis.json",
                root / "reports/analysis.json", root / "reports/analysis_confusion")
    # what annotate reports the answers cost (the stage's card reads it)
    (root / "reports/annotate.json").write_text(json.dumps({"annotators": {"llm": {"answers_cost_usd": 0.0125}}}))
    return prepared


def do_publish(root, secs=None, reviewed_dir=None, annotate_report=None, **kw):
    return publish(PublishParams(**kw), sections=secs or sections(), melt_dir=root / "data/melt",
                   analysis_path=root / "reports/analysis.json", annotations_dir=root / "data/annotations",
                   out_dir=root / "data/hub", root=root, reviewed_dir=reviewed_dir, annotate_report_path=annotate_report)


def card_header(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def hub_files(hub) -> dict[str, bytes]:
    return {p.relative_to(hub).as_posix(): p.read_bytes() for p in sorted(hub.rglob("*")) if p.is_file()}


def test_load_dataset_from_built_repo(tmp_path):
    split_votes = DeriveParams(min_confidence=0.6)   # 1 of 2 samples is not enough: some rows are excluded
    build_inputs(tmp_path, derive_params=split_votes)
    summary = do_publish(tmp_path, sections(derive_params=split_votes), version="2.1.0")
    hub = tmp_path / "data/hub"
    assert sorted(hub_files(hub)) == ["README.md", "data/test.parquet", "data/train.parquet", "data/validation.parquet",
                                      "excluded.csv", "provenance.json"]

    ds = load_dataset(str(hub), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == set(SPLITS)
    for split, meld_split in zip(SPLITS, ("train", "dev", "test")):
        feature = ds[split].features["llm_label"]
        assert isinstance(feature, ClassLabel) and feature.names == list(EMOTIONS)
        assert ds[split].features["Emotion"].names == list(EMOTIONS)
        csv = pd.read_csv(tmp_path / f"data/melt/{meld_split}.csv", keep_default_na=False)
        got = ds[split].to_pandas()
        panel_cols = ["panel_agreement", "label_llm", "confidence_llm"]   # one annotator, two samples
        assert list(got.columns) == [*PUBLISHED_COLUMNS, *panel_cols] and len(got) == len(csv) == summary["rows"][split]
        assert ds[split].features["label_llm"].names == list(EMOTIONS)
        assert [ds[split].features["label_llm"].int2str(int(i)) for i in got["label_llm"]] == csv["label_llm"].tolist()
        assert [feature.int2str(int(i)) for i in got["llm_label"]] == csv["llm_label"].tolist()
        assert [feature.int2str(int(i)) for i in got["Emotion"]] == csv["Emotion"].tolist()
        for col in ("filename", "Utterance", "Speaker", "StartTime", "llm_votes", "annotation_key", "character_check"):
            assert got[col].tolist() == csv[col].astype(str).tolist()
        assert got["Dialogue_ID"].tolist() == csv["Dialogue_ID"].tolist()
        assert got["llm_confidence"].tolist() == pytest.approx(csv["llm_confidence"].tolist())

    card = (hub / "README.md").read_text()
    header = card_header(card)
    assert header["license"] == "mit" and header["language"] == ["en"]   # the demo corpus is the repository's (MIT)
    assert "demo" in header["pretty_name"] and header["source_datasets"] == ["original"]
    assert header["configs"][0]["data_files"] == [{"split": s, "path": f"data/{s}.parquet"} for s in SPLITS]
    assert [s["name"] for s in header["dataset_info"]["splits"]] == list(SPLITS)
    label = next(f for f in header["dataset_info"]["features"] if f["name"] == "llm_label")
    assert list(label["dtype"]["class_label"]["names"].values()) == list(EMOTIONS)
    report = json.loads((tmp_path / "reports/analysis.json").read_text())
    assert f"| validation | {report['splits']['dev']['rows']} | {report['splits']['dev']['excluded']} |" in card
    assert "Krippendorff" in card and "2505.24493" in card and "load_dataset(" in card
    assert "not\nMELD" in card and "GNU General Public License" not in card  # the demo build says what it is
    assert "offline rule-based heuristics" in card and "not from an LLM" in card  # and so do its labels
    assert "| `llm` | text | `offline` (http://llm.local:8000/v1) | `test-heuristic` | `melt-v1`" in card   # the panel
    assert "Given the following line of dialogue from a ${show} character" in card   # the prompt used
    assert "| Version | `2.1.0` |" in card and "| Registry release | git tag `melt-dataset@v2.1.0` " in card
    for section in ("## Uses", "## Limitations", "## Bias", "## Licence"):
        assert section in card
    assert "`dev` split is published as `validation`" in card and "cache fingerprint" not in card

    excluded = pd.read_csv(hub / "excluded.csv", keep_default_na=False)
    source = pd.read_csv(tmp_path / "data/melt/excluded.csv", keep_default_na=False)
    assert list(excluded.columns) == list(PUBLISHED_EXCLUDED_COLUMNS) and len(excluded) == len(source) > 0
    assert excluded["split"].tolist() == source["split"].map({"train": "train", "dev": "validation", "test": "test"}).tolist()
    assert f"lists the\n{len(excluded)} utterances" in card

    prov = json.loads((hub / "provenance.json").read_text())
    assert prov["version"] == "2.1.0" and prov["registry_tag"] == "melt-dataset@v2.1.0"
    recorded = prov["params"]["annotate"]
    assert recorded["annotators"]["llm"]["base_url"] == "http://llm.local:8000/v1"   # userinfo never published
    assert recorded["aggregate"] == "dawid_skene" and recorded["annotators"]["llm"]["samples"] == 2
    assert "concurrency" not in recorded["annotators"]["llm"] and "dvc_lock" not in prov
    assert "secret-pass" not in card + json.dumps(prov)
    expected_inputs = {f"data/melt/{s}.csv" for s in ("train", "dev", "test", "excluded")} | {
        "data/melt/panel.json", "reports/analysis.json", "prompts/melt-v1.txt"} | {
        f"data/annotations/llm/{s}.jsonl" for s in ("train", "dev", "test")}
    assert set(prov["inputs_sha256"]) == expected_inputs      # relative paths: nothing of the build machine
    assert prov["inputs_sha256"]["data/melt/train.csv"] == hashlib.sha256((tmp_path / "data/melt/train.csv").read_bytes()).hexdigest()
    assert prov["files_sha256"] == {f: hashlib.sha256((hub / f).read_bytes()).hexdigest()
                                    for f in ("data/train.parquet", "data/validation.parquet", "data/test.parquet", "excluded.csv")}
    assert str(tmp_path) not in card + json.dumps(prov) + (hub / "excluded.csv").read_text()

    (tmp_path / "prompts/melt-v1.txt").unlink()
    with pytest.raises(PublishError, match=r"melt-v1\.txt: prompt template of annotator 'llm' not found"):
        do_publish(tmp_path)


def test_labels_for_train_and_test_only_publish_two_splits(tmp_path):
    """Bug (issue 9 §4): importing released MELT files for train and test only listed an empty `dev` split in the
    card's configs, and `load_dataset("data/hub")` failed ("Instruction dev corresponds to no data")."""
    build_inputs(tmp_path, labels_splits=("train", "test"))
    assert len(pd.read_csv(tmp_path / "data/melt/dev.csv")) == 0
    summary = do_publish(tmp_path, sections("meld"))
    hub = tmp_path / "data/hub"
    ds = load_dataset(str(hub), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == {"train", "test"}
    for split in ("train", "test"):
        melt = pd.read_csv(tmp_path / f"data/melt/{split}.csv", keep_default_na=False)
        assert len(ds[split]) == len(melt) == summary["rows"][split] > 0
        assert [ds[split].features["llm_label"].int2str(i) for i in ds[split]["llm_label"]] == melt["llm_label"].tolist()
    assert sorted(hub_files(hub)) == ["README.md", "data/test.parquet", "data/train.parquet", "excluded.csv",
                                      "provenance.json"]
    card = (hub / "README.md").read_text()
    header = card_header(card)
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": "data/train.parquet"},
                                                  {"split": "test", "path": "data/test.parquet"}]
    assert [s["name"] for s in header["dataset_info"]["splits"]] == ["train", "test"]
    assert header["license"] == "gpl-3.0" and header["source_datasets"] == ["extended|meld"]
    assert "GNU General Public License" in card and "Not published, because no utterance\nof it has a valid label" in card
    assert "| validation |" not in card
    # the dev rows are not lost: each is in excluded.csv with what the import said
    excluded = pd.read_csv(hub / "excluded.csv", keep_default_na=False)
    dev = excluded[excluded["split"] == "validation"]
    assert len(dev) == len(pd.read_csv(tmp_path / "data/prepared/dev.csv"))
    assert set(dev["reason"]) == {"no_valid_answer"} and dev["llm_answers"].str.contains("no labels file").all()
    prov = json.loads((hub / "provenance.json").read_text())
    assert prov["params"]["annotate"]["annotators"]["llm"]["labels_files"] == {"test": "MELT_test.csv",
                                                                               "train": "MELT_train.csv"}
    assert str(tmp_path / "released") not in card + json.dumps(prov)   # labels files by name only


def test_card_lists_what_each_annotator_cost(tmp_path):
    build_inputs(tmp_path)
    do_publish(tmp_path, annotate_report=tmp_path / "reports/annotate.json")
    card = (tmp_path / "data/hub/README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| `llm` |"))
    assert row.endswith("| 0.0125 |") and "| What the answers cost | $0.0125 " in card
    prov = json.loads((tmp_path / "data/hub/provenance.json").read_text())
    assert "reports/annotate.json" in prov["inputs_sha256"]


def test_licence_follows_the_source(tmp_path):
    build_inputs(tmp_path)
    do_publish(tmp_path, sections("meld"))
    assert card_header((tmp_path / "data/hub/README.md").read_text())["license"] == "gpl-3.0"
    with pytest.raises(PublishError, match="MELD is distributed under gpl-3.0"):
        do_publish(tmp_path, sections("meld"), license="mit")
    do_publish(tmp_path, sections("demo"), license="cc-by-4.0")    # the demo is ours to license
    assert card_header((tmp_path / "data/hub/README.md").read_text())["license"] == "cc-by-4.0"


def test_demo_licence_is_the_repository_licence():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert SOURCE_LICENSES["demo"] == pyproject["project"]["license"]["text"].lower()


def test_identical_inputs_give_identical_bytes(tmp_path):
    """Two builds from the same inputs in two folders (other absolute paths) are byte-identical."""
    first, second = tmp_path / "a", tmp_path / "elsewhere/b"
    build_inputs(first)
    shutil.copytree(first, second)
    shutil.rmtree(second / "data/hub", ignore_errors=True)
    do_publish(first)
    do_publish(second)
    assert hub_files(first / "data/hub") == hub_files(second / "data/hub")
    do_publish(first, version="9.9.9")
    changed = hub_files(first / "data/hub")
    assert {f for f in changed if changed[f] != hub_files(second / "data/hub")[f]} == {"README.md", "provenance.json"}


def test_the_git_commit_is_no_input(tmp_path, monkeypatch):
    """The commit is no declared input of the stage: outside git, at two commits, and inside `dvc exp run` (its
    baseline in $DVC_EXP_BASELINE_REV) the bytes are the same; the release is named by `publish.version` only."""
    build_inputs(tmp_path)
    do_publish(tmp_path)
    outside_git = hub_files(tmp_path / "data/hub")
    run(["git", "init", "-q"], tmp_path)
    for message in ("one", "two"):
        run(["git", "commit", "-q", "--allow-empty", "-m", message], tmp_path)
        do_publish(tmp_path)
        assert hub_files(tmp_path / "data/hub") == outside_git, message
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "feedc0de" * 5)
    do_publish(tmp_path)
    assert hub_files(tmp_path / "data/hub") == outside_git
    prov = json.loads(outside_git["provenance.json"])
    assert prov["registry_tag"] == f"melt-dataset@v{PublishParams().version}" and "git_commit" not in prov


def test_dvc_stage_params_are_exactly_what_publish_records():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["publish"]
    listed = set(stage["params"])
    assert listed == {"publish"} | {f"{section}.{k}" for section, keys in PUBLISHED_PARAMS.items() for k in keys}
    assert not any(p.startswith("annotate") for p in listed)   # the panel reaches publish as data/melt/panel.json


def test_push_without_token_or_repo_fails_before_anything(tmp_path, monkeypatch):
    build_inputs(tmp_path)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PublishError, match="HF_TOKEN is not set.*Nothing was built"):
        do_publish(tmp_path, push=True, repo_id="me/melt")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    with pytest.raises(PublishError, match="publish.repo_id is not set"):
        do_publish(tmp_path, push=True)
    assert not (tmp_path / "data/hub").exists()


def test_include_audio_embeds_the_wav_bytes(tmp_path):
    prepared = build_inputs(tmp_path)
    for split, df in prepared.items():
        for rel in df["audio_path"]:
            write_tone(tmp_path / rel, 1.2, freq=300.0)
    do_publish(tmp_path, include_audio=True)
    ds = load_dataset(str(tmp_path / "data/hub"), cache_dir=str(tmp_path / "hf-cache"))["test"]
    ds = ds.cast_column("audio", Audio(decode=False))
    row = ds[0]
    assert row["audio"]["path"] == row["filename"]
    wav, sr = sf.read(io.BytesIO(row["audio"]["bytes"]))
    assert sr == 16000 and len(wav) == int(1.2 * 16000)


def write_reviewed(root, decisions: dict) -> None:
    """data/melt_reviewed as review_apply writes it: every row the LLM's label unless `decisions` (split → {row
    index: (final_label, label_source, reviewer)}) says otherwise."""
    for split in ("train", "dev", "test"):
        df = pd.read_csv(root / f"data/melt/{split}.csv", dtype=str, keep_default_na=False)
        df = df.assign(final_label=df["llm_label"], label_source="llm", reviewer="", reviewed_at="")
        for i, (label, source, who) in decisions.get(split, {}).items():
            df.loc[i, list(REVIEW_COLUMNS)] = [label, source, who, "2026-11-30T10:00:00+00:00"]
        (root / "data/melt_reviewed").mkdir(parents=True, exist_ok=True)
        df.to_csv(root / f"data/melt_reviewed/{split}.csv", index=False)


def test_reviewed_config_is_published_once_a_row_is_reviewed(tmp_path):
    build_inputs(tmp_path)
    write_reviewed(tmp_path, {})
    summary = do_publish(tmp_path, reviewed_dir=tmp_path / "data/melt_reviewed")
    assert summary["configs"] == ["default"]          # nothing reviewed: the config would repeat the default one
    assert not (tmp_path / "data/hub/reviewed").exists()

    melt_train = pd.read_csv(tmp_path / "data/melt/train.csv", keep_default_na=False)
    meld_label = melt_train.loc[1, "Emotion"]
    write_reviewed(tmp_path, {"train": {0: ("frustration", "reviewer", "alice"), 1: (meld_label, "meld", "bob")}})
    summary = do_publish(tmp_path, reviewed_dir=tmp_path / "data/melt_reviewed")
    assert summary["configs"] == ["default", "reviewed"]
    hub = tmp_path / "data/hub"
    header = card_header((hub / "README.md").read_text())
    assert [c["config_name"] for c in header["configs"]] == ["default", "reviewed"]
    default = load_dataset(str(hub), cache_dir=str(tmp_path / "hf-cache"))
    reviewed = load_dataset(str(hub), "reviewed", cache_dir=str(tmp_path / "hf-cache"))
    assert set(reviewed) == set(default) == set(SPLITS)
    for split, name in zip(("train", "dev", "test"), SPLITS):
        expected = pd.read_csv(tmp_path / f"data/melt_reviewed/{split}.csv", dtype=str, keep_default_na=False)
        got = reviewed[name]
        assert list(got["Utterance"]) == list(default[name]["Utterance"]) == expected["Utterance"].tolist()
        assert list(got["final_label"]) == expected["final_label"].tolist()
        assert [got.features["label_source"].int2str(i) for i in got["label_source"]] == expected["label_source"].tolist()
        assert list(got["reviewer"]) == expected["reviewer"].tolist()
    train = reviewed["train"]
    assert train[0]["final_label"] == "frustration" and train[1]["final_label"] == meld_label
    assert sum(r != "" for r in train["reviewer"]) == 2
    prov = json.loads((hub / "provenance.json").read_text())
    assert prov["reviewed_rows"]["train"] == {"rows": len(melt_train), "reviewed": 2}
    assert "reviewed/train.parquet" in prov["files_sha256"] and "data/melt_reviewed/train.csv" in prov["inputs_sha256"]
    assert "`train` 2 of" in (hub / "README.md").read_text()


def test_reviewed_rows_that_are_not_data_melts_are_refused(tmp_path):
    build_inputs(tmp_path)
    write_reviewed(tmp_path, {"train": {0: ("joy", "reviewer", "alice")}})
    path = tmp_path / "data/melt_reviewed/train.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.iloc[:-1].to_csv(path, index=False)               # a stale review_apply output: one row short
    with pytest.raises(PublishError, match=r"melt_reviewed/train.csv: .* rows, but data/melt's train split has"):
        do_publish(tmp_path, reviewed_dir=tmp_path / "data/melt_reviewed")
    df.loc[2, "label_source"] = "gpt"
    df.to_csv(path, index=False)
    with pytest.raises(PublishError, match=r"train.csv: row 3: label_source 'gpt'"):
        do_publish(tmp_path, reviewed_dir=tmp_path / "data/melt_reviewed")


def test_reviewed_columns_are_review_applys():
    assert REVIEW_COLUMNS == study_review_columns
