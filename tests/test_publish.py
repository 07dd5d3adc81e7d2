"""publish: data/hub is a Hub dataset repository that `datasets.load_dataset` reads with the ClassLabel feature."""

from __future__ import annotations

import io
import json
import shutil

import pandas as pd
import pytest
import soundfile as sf
import yaml
from datasets import Audio, ClassLabel, load_dataset

from conftest import REPO, write_tone
from derive_fixtures import write_annotations, write_prepared
from melt.analysis import analyze, derive
from melt.analysis.params import AnalyzeParams, DeriveParams
from melt.data.labels import EMOTIONS
from melt.publish.build import run as publish
from melt.publish.dataset import PUBLISHED_COLUMNS, PublishError
from melt.publish.params import PublishParams

SPLITS = ("train", "dev", "test")
PIPELINE = {"data": {"source": "demo"}, "prompts": {"template": "melt-v1"}, "derive": {"tie_break": "first_sample", "min_confidence": 0.0},
            "annotate": {"backend": "offline", "model": "x", "temperature": 1.0, "top_p": 1.0, "seed": 0, "samples": 2,
                         "base_url": "http://user:secret-pass@llm.local:8000/v1"}}


def build_inputs(root):
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "prompts/melt-v1.txt", root / "prompts/melt-v1.txt")   # the card quotes the template
    prepared = write_prepared(root / "data/prepared")
    write_annotations(root / "data/annotations", prepared, samples=2)
    derive.run(DeriveParams(), root / "data/prepared", root / "data/annotations", root / "data/melt", root / "metrics/derive.json")
    analyze.run(AnalyzeParams(), root / "data/melt", root / "data/annotations", root / "metrics/analysis.json",
                root / "metrics/analysis_confusion")
    return prepared


def do_publish(root, **kw):
    return publish(PublishParams(**kw), pipeline=PIPELINE, melt_dir=root / "data/melt",
                   analysis_path=root / "metrics/analysis.json", annotations_dir=root / "data/annotations",
                   lock_path=root / "dvc.lock", out_dir=root / "data/hub", root=root)


def test_load_dataset_from_built_repo(tmp_path):
    build_inputs(tmp_path)
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "annotate": {"cmd": "x", "outs": [{"path": "cache/llm", "md5": "abc123.dir"}]},
        "derive": {"cmd": "y", "deps": [{"path": "data/annotations", "md5": "def456.dir"}],
                   "outs": [{"path": "data/melt", "md5": "0fe.dir"}]}}}))
    summary = do_publish(tmp_path)
    hub = tmp_path / "data/hub"
    assert sorted(p.relative_to(hub).as_posix() for p in hub.rglob("*") if p.is_file()) == [
        "README.md", "data/dev.parquet", "data/test.parquet", "data/train.parquet", "provenance.json"]

    ds = load_dataset(str(hub), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == set(SPLITS)
    for split in SPLITS:
        feature = ds[split].features["llm_label"]
        assert isinstance(feature, ClassLabel) and feature.names == list(EMOTIONS)
        assert ds[split].features["Emotion"].names == list(EMOTIONS)
        csv = pd.read_csv(tmp_path / f"data/melt/{split}.csv", keep_default_na=False)
        got = ds[split].to_pandas()
        assert list(got.columns) == list(PUBLISHED_COLUMNS) and len(got) == len(csv) == summary["rows"][split]
        assert [feature.int2str(int(i)) for i in got["llm_label"]] == csv["llm_label"].tolist()
        assert [feature.int2str(int(i)) for i in got["Emotion"]] == csv["Emotion"].tolist()
        for col in ("filename", "Utterance", "Speaker", "StartTime", "llm_votes", "annotation_key", "character_check"):
            assert got[col].tolist() == csv[col].astype(str).tolist()
        assert got["Dialogue_ID"].tolist() == csv["Dialogue_ID"].tolist()
        assert got["llm_confidence"].tolist() == pytest.approx(csv["llm_confidence"].tolist())

    card = (hub / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "gpl-3.0" and header["language"] == ["en"] and header["pretty_name"]
    assert header["configs"][0]["data_files"] == [{"split": s, "path": f"data/{s}.parquet"} for s in SPLITS]
    label = next(f for f in header["dataset_info"]["features"] if f["name"] == "llm_label")
    assert list(label["dtype"]["class_label"]["names"].values()) == list(EMOTIONS)
    analysis = json.loads((tmp_path / "metrics/analysis.json").read_text())
    assert f"| test | {analysis['splits']['test']['rows']} |" in card and "Krippendorff" in card
    assert "abc123.dir" in card and "GNU General Public License" in card and "2505.24493" in card
    assert "load_dataset(" in card and "not MELD" in card  # the demo build says what it is
    assert "offline rule-based text heuristic" in card and "not from an LLM" in card  # and so do its labels
    assert "Given the following line of dialogue from a ${show} character" in card   # the prompt used
    (tmp_path / "prompts/melt-v1.txt").unlink()
    with pytest.raises(PublishError, match=r"melt-v1\.txt: prompt template not found"):
        do_publish(tmp_path)

    prov = json.loads((hub / "provenance.json").read_text())
    assert prov["dvc_lock"]["derive"]["deps"] == {"data/annotations": "def456.dir"}
    assert prov["params"]["annotate"]["base_url"] == "http://llm.local:8000/v1"   # userinfo never published
    assert "secret-pass" not in card + json.dumps(prov)
    assert set(prov["inputs_sha256"]) >= {(tmp_path / f"data/melt/{s}.csv").as_posix() for s in SPLITS}


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
