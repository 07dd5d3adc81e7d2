"""The study set: stratified, seeded sampling of disagreements, attention checks, the review queue, media."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import write_tone
from melt.config import ParamsError, parse_params
from melt.study.items import ITEM_COLUMNS, build_study_set
from melt.study.params import StudyParams
from study_helpers import build_study, demo_rows, melt_row, write_melt_dir


def _read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_preference_items_are_a_stratified_sample_of_disagreements(tmp_path):
    rows = demo_rows(tmp_path, per_label=4, agree=2)
    study = build_study(tmp_path, StudyParams(per_label=3), rows)
    items = _read(study / "items.csv")
    pref = items[items["kind"] == "preference"]
    source = pd.DataFrame(rows)
    disagreements = source[source["Emotion"] != source["llm_label"]]
    # Independent check: 3 per MELD emotion, each a real disagreement row of that emotion, no repeats.
    assert pref.groupby("meld_label").size().to_dict() == {e: 3 for e in disagreements["Emotion"].unique()}
    keys = set(zip(disagreements["split"], disagreements["dialogue_id"], disagreements["utterance_id"]))
    assert set(zip(pref["split"], pref["dialogue_id"], pref["utterance_id"])) <= keys
    assert not pref.duplicated(["split", "dialogue_id", "utterance_id"]).any()
    # No id in the DVC output: public ids are keyed by a secret of the app's database.
    assert list(items.columns) == list(ITEM_COLUMNS) and "item_id" not in items.columns
    for row in pref.itertuples():
        assert {row.option_1, row.option_2} == {row.meld_label, row.melt_label} and row.meld_label != row.melt_label
        assert {row.source_1, row.source_2} == {"melt", "meld"}
        assert row.media == "audio" and (tmp_path / row.audio_path).is_file() and row.duration_s == "0.3"


def test_same_inputs_same_bytes_and_the_seed_matters(tmp_path):
    rows = demo_rows(tmp_path)
    write_melt_dir(tmp_path, rows)
    melt = tmp_path / "data" / "melt"
    prepared = tmp_path / "data" / "prepared"
    build_study_set(StudyParams(per_label=2), melt, tmp_path / "a", tmp_path / "audio", prepared)
    build_study_set(StudyParams(per_label=2), melt, tmp_path / "b", tmp_path / "audio", prepared)
    build_study_set(StudyParams(per_label=2, seed=7), melt, tmp_path / "c", tmp_path / "audio", prepared)
    for name in ("items.csv", "review_queue.csv", "context.csv", "sampling.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "items.csv").read_bytes() != (tmp_path / "c" / "items.csv").read_bytes()


def test_each_emotion_draws_from_its_own_stream(tmp_path):
    """Dropping an emotion from study.labels leaves the other emotions' samples unchanged."""
    write_melt_dir(tmp_path, demo_rows(tmp_path))
    melt = tmp_path / "data" / "melt"
    prepared = tmp_path / "data" / "prepared"
    build_study_set(StudyParams(per_label=2), melt, tmp_path / "all", tmp_path / "audio", prepared)
    build_study_set(StudyParams(per_label=2, labels=("joy", "fear")), melt, tmp_path / "two", tmp_path / "audio",
                    prepared)
    full, two = _read(tmp_path / "all" / "items.csv"), _read(tmp_path / "two" / "items.csv")
    pick = lambda df: sorted(map(tuple, df[(df["kind"] == "preference") & df["meld_label"].isin(["joy", "fear"])]
                                 [["split", "dialogue_id", "utterance_id"]].to_numpy()))
    assert pick(full) == pick(two)


def test_shortfall_and_rows_without_media_are_recorded(tmp_path):
    rows = demo_rows(tmp_path, per_label=2, agree=0)
    rows.append(melt_row("test", 99, 0, "joy", "anger", audio=""))   # a disagreement with no audio
    study = build_study(tmp_path, StudyParams(per_label=5, attention_items=0), rows)
    sampling = json.loads((study / "sampling.json").read_text())
    assert sampling["preference"]["joy"] == {"disagreements": 3, "without_media": 1, "sampled": 2, "shortfall": 3}
    assert sampling["preference"]["anger"] == {"disagreements": 2, "without_media": 0, "sampled": 2, "shortfall": 3}
    queue = _read(study / "review_queue.csv")
    assert len(queue) == 15 and sampling["totals"]["review_without_media"] == 1   # reviewed from text alone


def test_attention_checks_pair_the_agreed_label_with_an_obviously_wrong_one(tmp_path):
    rows = demo_rows(tmp_path, per_label=1, agree=3)
    params = StudyParams(per_label=1, attention_items=5, attention_labels={"joy": "sadness", "anger": "joy"})
    study = build_study(tmp_path, params, rows)
    att = _read(study / "items.csv").query("kind == 'attention'")
    # Round-robin over joy and anger: 3 + 2.
    assert att["meld_label"].value_counts().to_dict() == {"joy": 3, "anger": 2}
    assert (att["meld_label"] == att["melt_label"]).all()
    assert (att["option_1"] == att["meld_label"]).all() and (att["source_1"] == "correct").all()
    assert list(att["option_2"]) == [params.attention_labels[x] for x in att["meld_label"]]
    assert (att["source_2"] == "wrong").all()
    sampling = json.loads((study / "sampling.json").read_text())
    assert sampling["attention"] == {"joy": {"agreements": 3, "sampled": 3}, "anger": {"agreements": 3, "sampled": 2}}


def test_review_queue_puts_the_least_certain_llm_labels_first(tmp_path):
    write_tone(tmp_path / "a.wav", 0.2)
    rows = [
        melt_row("train", 1, 0, "joy", "anger", "a.wav", "1.0", '{"anger": 3}'),
        melt_row("train", 2, 0, "joy", "anger", "a.wav", "0.6667", '{"anger": 2, "joy": 1}'),
        melt_row("dev", 3, 0, "fear", "neutral", "a.wav", "0.5", '{"neutral": 2, "fear": 2}'),
        melt_row("test", 4, 0, "sadness", "neutral", "a.wav", "0.5", '{"neutral": 2, "sadness": 1, "fear": 1}'),
        melt_row("test", 5, 0, "joy", "joy", "a.wav", "0.6667", '{"joy": 2, "fear": 1}'),   # agreement: not queued
    ]
    study = build_study(tmp_path, StudyParams(per_label=1, attention_items=0), rows)
    queue = _read(study / "review_queue.csv")
    # By hand: confidence 0.5 first; between the two, the smaller margin (2-2)/4 = 0 before (2-1)/4 = 0.25.
    assert list(zip(queue["split"], queue["dialogue_id"])) == [("dev", "3"), ("test", "4"), ("train", "2"),
                                                              ("train", "1")]
    assert list(queue["vote_margin"].astype(float)) == [0.0, 0.25, pytest.approx(1 / 3, abs=1e-6), 1.0]
    assert list(queue["queue_rank"]) == ["1", "2", "3", "4"]
    assert list(queue["llm_label"]) == ["neutral", "neutral", "anger", "anger"]


def test_meld_video_is_preferred_when_the_audio_folder_holds_it(tmp_path):
    rows = demo_rows(tmp_path, per_label=1, agree=0)
    video = tmp_path / "audio" / "train" / "dia0_utt0.mp4"   # MELD.Raw names; the content is not decoded here
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    study = build_study(tmp_path, StudyParams(per_label=1, attention_items=0), rows)
    items = _read(study / "items.csv")
    key = (items["split"] == "train") & (items["dialogue_id"] == "0") & (items["utterance_id"] == "0")
    assert key.sum() == 1
    with_video = items[key].iloc[0]
    assert with_video["media"] == "video" and with_video["video_path"] == video.as_posix()
    assert (items[~key]["media"] == "audio").all()
    only_video = _read(build_study(tmp_path, StudyParams(per_label=1, attention_items=0, media="video"),
                                   rows) / "items.csv")
    assert list(zip(only_video["split"], only_video["dialogue_id"], only_video["utterance_id"])) == [("train", "0", "0")]


@pytest.mark.parametrize("raw, message", [
    ({"study": {"labels": ["joy", "happiness"]}}, "study.labels"),
    ({"study": {"per_label": 0}}, "study.per_label"),
    ({"study": {"attention_labels": {"joy": "joy"}}}, "wrong option must differ"),
    ({"study": {"media": "podcast"}}, "study.media"),
    ({"study": {"colour": 1}}, "study.colour: unknown key"),
])
def test_bad_study_params_name_the_key(raw, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(raw, "params.yaml")


def test_context_holds_the_preceding_turns_of_the_dialogue_including_excluded_ones(tmp_path):
    """Turns come from data/prepared (kept and excluded rows): a short line the filter dropped is still context;
    rows without a usable key are not; other dialogues and splits never leak in."""
    write_tone(tmp_path / "a.wav", 0.2)
    rows = [melt_row("train", 7, u, "joy", "joy", "a.wav", text=f"turn {u}") for u in (0, 1, 3, 5)]
    rows[3] = melt_row("train", 7, 5, "joy", "anger", "a.wav", text="the reviewed line")       # queued
    rows.append(melt_row("train", 8, 1, "fear", "sadness", "a.wav", text="other dialogue"))     # queued, first turn 0
    rows.append(melt_row("dev", 7, 4, "joy", "joy", "a.wav", text="same dialogue id, other split"))
    excluded = [
        {"reason": "too_short", "split": "train", "dialogue_id": "7", "utterance_id": "4", "Speaker": "all",
         "Utterance": "Oh.", "audio_path": ""},                                               # no media: text only
        {"reason": "duplicate_key", "split": "train", "dialogue_id": "7", "utterance_id": "4", "Speaker": "ana",
         "Utterance": "a duplicate", "audio_path": "a.wav"},
        {"reason": "too_short", "split": "train", "dialogue_id": "7", "utterance_id": "6", "Speaker": "ben",
         "Utterance": "after the line", "audio_path": "a.wav"},
    ]
    study = build_study(tmp_path, StudyParams(per_label=1, attention_items=0, context_turns=3), rows, excluded)
    context = _read(study / "context.csv")
    mine = context[(context["dialogue_id"] == "7") & (context["utterance_id"] == "5")]
    # By hand: the three turns before utterance 5 of train dialogue 7 are 1, 3 and the excluded 4, oldest first.
    assert list(zip(mine["turn"], mine["turn_utterance_id"], mine["Utterance"], mine["media"])) == [
        ("-3", "1", "turn 1", "audio"), ("-2", "3", "turn 3", "audio"), ("-1", "4", "Oh.", "")]
    other = context[context["dialogue_id"] == "8"]
    assert other.empty   # utterance 1 of dialogue 8: no turn 0 in the prepared rows
    fewer = _read(build_study(tmp_path, StudyParams(per_label=1, attention_items=0, context_turns=1), rows,
                              excluded) / "context.csv")
    assert list(fewer["turn_utterance_id"]) == ["4"]


def test_a_panel_labelled_melt_carries_each_annotators_label_into_the_queue(tmp_path):
    write_tone(tmp_path / "a.wav", 0.2)
    rows = [melt_row("train", 1, 0, "joy", "anger", "a.wav", "0.55"),
            melt_row("train", 2, 0, "fear", "fear", "a.wav")]
    rows[0].update(panel_agreement="0.5", label_gpt_text="anger", label_qwen_audio="joy")
    rows[1].update(panel_agreement="1.0", label_gpt_text="fear", label_qwen_audio="fear")
    write_melt_dir(tmp_path, rows, extra_columns=("panel_agreement", "label_gpt_text", "label_qwen_audio"))
    panel = {"aggregate": "dawid-skene", "annotators": {
        "gpt_text": {"backend": "openai", "model": "gpt-4o", "input": "text", "prompt": "melt-v1", "seed": 1},
        "qwen_audio": {"backend": "openai", "model": "qwen2-audio", "input": "audio", "prompt": "melt-audio-v1"}}}
    (tmp_path / "data" / "melt" / "panel.json").write_text(json.dumps(panel))
    out = tmp_path / "data" / "study"
    build_study_set(StudyParams(per_label=1, attention_items=0), tmp_path / "data" / "melt", out, None,
                    tmp_path / "data" / "prepared")
    queue = _read(out / "review_queue.csv")
    assert list(queue.columns[-3:]) == ["panel_agreement", "label_gpt_text", "label_qwen_audio"]
    assert list(zip(queue["label_gpt_text"], queue["label_qwen_audio"], queue["panel_agreement"])) == [
        ("anger", "joy", "0.5")]
    assert json.loads((out / "panel.json").read_text()) == {"aggregate": "dawid-skene", "annotators": {
        "gpt_text": {"backend": "openai", "model": "gpt-4o", "input": "text", "prompt": "melt-v1"},
        "qwen_audio": {"backend": "openai", "model": "qwen2-audio", "input": "audio", "prompt": "melt-audio-v1"}}}
    # Today's single-annotator MELT: no panel columns, no panel.json.
    (tmp_path / "data" / "melt" / "panel.json").unlink()
    build_study_set(StudyParams(per_label=1, attention_items=0), tmp_path / "data" / "melt", out, None,
                    tmp_path / "data" / "prepared")
    assert "panel_agreement" not in _read(out / "review_queue.csv").columns and not (out / "panel.json").exists()
