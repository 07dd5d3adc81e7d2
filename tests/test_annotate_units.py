"""Prompts, keys, the offline annotator, answer validation, the Batch API and labels-file backends."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import melt.annotate.batch as batch_mod
from annotate_helpers import TEMPLATES, make_prompts, read_annotations, run_annotate, server_params
from llm_server import Faults, LLMServer
from melt.annotate.heuristic import annotate_line
from melt.annotate.params import AnnotateParams, AnnotatorSettings, PromptsParams
from melt.annotate.requests import iter_prompts, load_template, render
from melt.annotate.schema import check_answer
from melt.data.labels import EMOTIONS

PAPER_LINES = [
    'Given the following line of dialogue from a Friends character, the format will be:',
    '"[speaker] at s[season]e[episode] said: [utterance]"',
    "- the overall emotional impact of the voice.",
    "- The emotion label must be selected from the following list: [Anger, Disgust, Sadness, Joy, Neutral, Surprise, Fear].",
    '"rhythm_speed": "[Speed of voice\'s rhythm]", "emotional_impact": "[Emotional impact created by the voice]"}}',
]


def test_melt_v1_is_the_paper_prompt_with_show_variable():
    text = render(load_template("melt-v1", TEMPLATES), "Friends",
                  {"Speaker": "monica", "Season": 3, "Episode": 7, "Utterance": "  Hi there!  "})
    for line in PAPER_LINES:
        assert line in text
    assert text.endswith("\n\nMonica at s3e7 said: Hi there!")
    other = render(load_template("melt-v1", TEMPLATES), "Hallway", {"Speaker": "x", "Season": 1, "Episode": 1,
                                                                     "Utterance": "a"})
    assert "from a Hallway character" in other and "Friends" not in other


def test_keys_follow_content_not_secrets(tmp_path):
    base = AnnotatorSettings(backend="openai", base_url="http://user:sk-secret-pw@llm.example:8000/v1")
    assert base.provider_name == "llm.example"
    keys = {}
    for name, params, prompts in [
        ("base", base, PromptsParams()),
        ("same", base.model_copy(update={"concurrency": 99, "rpm": 1}), PromptsParams()),
        ("model", base.model_copy(update={"model": "other"}), PromptsParams()),
        ("temp", base.model_copy(update={"temperature": 0.5}), PromptsParams()),
        ("show", base, PromptsParams(show="Other")),
        ("fmt", base.model_copy(update={"response_format": "json_schema"}), PromptsParams()),
    ]:
        make_prompts(tmp_path / name, 2, params, prompts=prompts)
        recs = list(iter_prompts(tmp_path / name / "prompts"))
        keys[name] = [r["key"] for r in recs]
        assert "sk-secret" not in (tmp_path / name / "prompts/train.jsonl").read_text()
    assert keys["base"] == keys["same"]   # engine knobs do not change what is asked
    for name in ("model", "temp", "show", "fmt"):
        assert set(keys[name]).isdisjoint(keys["base"])


def test_offline_annotator_cues_and_shape():
    cases = {"I hate you, stop it!": "anger", "Ew, gross.": "disgust", "I miss him so much...": "sadness",
             "This is wonderful, thank you!": "joy", "Pass the salt.": "neutral", "What? Really?!": "surprise",
             "I'm so scared.": "fear"}
    for text, label in cases.items():
        answer = annotate_line("rachel", text)
        checked = check_answer(json.dumps(answer))
        assert checked.label == label, text
        assert answer["character"] == "Rachel" and "not an LLM" in answer["context"]
    assert annotate_line("x", "WHAT ARE YOU DOING!!")["elements"]["loudness"] == "very loud"
    assert annotate_line("x", "I miss her.")["elements"]["loudness"] == "soft"


def test_answer_validation():
    ok = json.dumps({"character": "A", "context": "c", "elements": {"emotion": " joy ", "loudness": "l", "pitch": "p",
                                                                   "rhythm_speed": "r", "emotional_impact": "i"}})
    assert check_answer(ok).label == "joy"
    assert check_answer(f"```json\n{ok}\n```").label == "joy"
    assert "not JSON" in check_answer(ok[:30]).error
    assert "elements" in check_answer(json.dumps({"character": "A", "context": "c"})).error
    bad = check_answer(ok.replace(" joy ", "Love"))
    assert bad.label is None and "out-of-set label 'Love'" in bad.error


def test_batch_api_round_trip_reasks_and_resume(tmp_path, monkeypatch):
    with LLMServer(Faults(script=["malformed"], batch_delay_s=0.2)) as srv:
        params = server_params(srv, backend="openai-batch", batch_poll_s=0.05)
        make_prompts(tmp_path, 5, params)
        real_poll = batch_mod._poll

        def interrupted(*a, **k):
            raise KeyboardInterrupt   # the run dies after the batch was submitted

        monkeypatch.setattr(batch_mod, "_poll", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_annotate(tmp_path, params)
        assert srv.batches_created == 1
        monkeypatch.setattr(batch_mod, "_poll", real_poll)
        out = run_annotate(tmp_path, params)
        # the same batch was picked up, then one more round for the malformed answer's re-ask
        assert srv.batches_created == 2 and out["report"]["status"]["ok"] == 5
        assert sum(srv.seen.values()) == 6
    recs = read_annotations(tmp_path / "out")
    assert {r["backend"] for r in recs} == {"openai-batch"} and all(r["label"] in EMOTIONS for r in recs)
    assert max(r["asks"] for r in recs) == 2
    states = sorted((tmp_path / "store/batches").glob("*.json"))   # batch ids live beside the store, not in DVC
    assert len(states) == 2 and not any("batch" in p.name for p in (tmp_path / "snapshot").iterdir())


def test_batch_killed_between_create_and_state_write_is_not_submitted_twice(tmp_path, monkeypatch):
    from openai.resources.batches import Batches

    with LLMServer(Faults(batch_delay_s=0.1)) as srv:
        params = server_params(srv, backend="openai-batch", batch_poll_s=0.05)
        make_prompts(tmp_path, 4, params)
        real_create = Batches.create

        def create_then_die(self, *a, **k):
            real_create(self, *a, **k)
            raise KeyboardInterrupt   # the batch exists on the server; its id was never written

        monkeypatch.setattr(Batches, "create", create_then_die)
        with pytest.raises(KeyboardInterrupt):
            run_annotate(tmp_path, params)
        monkeypatch.setattr(Batches, "create", real_create)
        out = run_annotate(tmp_path, params)
        assert srv.batches_created == 1 and out["report"]["status"]["ok"] == 4
        assert sum(srv.seen.values()) == 4


def test_labels_file_imports_released_melt_csv(tmp_path):
    params0 = AnnotateParams()
    make_prompts(tmp_path, 4, params0)
    melt_csv = tmp_path / "melt_train.csv"
    pd.DataFrame([{"filename": f"dia{d}_utt{u}.wav", "Sr_No.": i + 1, "Utterance": "u", "Speaker": "ana",
                   "Dialogue_ID": d, "Utterance_ID": u, "llm_label": lab}
                  for i, (d, u, lab) in enumerate([(0, 0, "joy"), (0, 1, "frustration"), (0, 2, " Anger ")])]
                 ).to_csv(melt_csv, index=False)
    params = AnnotatorSettings(backend="labels-file", labels_files={"train": melt_csv})
    m = run_annotate(tmp_path, params)["metrics"]
    recs = read_annotations(tmp_path / "out")
    assert [r["status"] for r in recs] == ["ok", "invalid", "ok", "failed"]
    assert recs[0]["label"] == "joy" and recs[2]["label"] == "anger"
    assert recs[1]["label"] is None and recs[1]["error"] == "out-of-set label 'frustration'"
    assert recs[1]["raw"] == "frustration" and recs[1]["parsed"] == {"elements": {"emotion": "frustration"}}
    assert "not in melt_train.csv" in recs[3]["error"] and m["failed"] == 2
