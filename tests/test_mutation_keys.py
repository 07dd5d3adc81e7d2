"""The request key and body (melt.annotate.requests): pinned values and one-field-at-a-time differences, so that a
change which silently re-keys every cached answer, or lets two different requests share one, fails here.

Expected keys are sha256 digests of JSON text written out by hand in this file (or pinned hex digests), never
`request_key` called again with the same arguments."""

from __future__ import annotations

import hashlib
import json

import pytest

from melt.annotate.audio_heuristic import AUDIO_HEURISTIC_ID
from melt.annotate.heuristic import HEURISTIC_ID
from melt.annotate.params import AnnotatorSettings
from melt.annotate.requests import (ANSWER_SCHEMA, audio_key, canonical_json, content_text, effective_model,
                                    iter_prompts, load_template, render, request_key, response_format_body,
                                    sample_requests, with_seed)
from melt.pretrain.params import PseudolabelParams

# A fixed body with non-ASCII text (accents, typographic quotes, an emoji outside the BMP).
BODY = {"model": "gpt-4o-2024-08-06", "messages": [{"role": "user", "content": "Café — “naïve” 😀 Ü"}],
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 123, "seed": 5, "response_format": {"type": "json_object"}}
# Its key material as canonical JSON, written by hand: keys sorted, no spaces, non-ASCII kept as UTF-8.
MATERIAL_TEXT = ('{"max_tokens":123,"messages":[{"content":"Café — “naïve” 😀 Ü","role":"user"}],'
                 '"model":"gpt-4o-2024-08-06","provider":"api.openai.com","response_format":{"type":"json_object"},'
                 '"sample":2,"seed":5,"temperature":0.7,"top_p":0.9}')
# A deliberate change of the key (every cached answer re-asked and re-paid) must change this test too.
PINNED_KEY = "0136e7cbd8ecdde0b8d6fe8b861941e0a583328da1d91b583611a6c16f6d74c6"
PINNED_AUDIO_KEY = "a792e057911e1a2ce5afc8aacdc8ccfc331b48644f8303b432ecc07ea4c4ffda"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_canonical_json_sorts_keys_drops_spaces_and_keeps_non_ascii():
    assert canonical_json({"b": [1, "é"], "a": {"y": None, "x": 1.5}}) == '{"a":{"x":1.5,"y":null},"b":[1,"é"]}'
    assert canonical_json("😀") == '"😀"'   # not "\ud83d\ude00": UTF-8 bytes, not escapes


def test_pinned_key_of_a_fixed_non_ascii_body():
    assert sha(MATERIAL_TEXT) == PINNED_KEY
    assert request_key("api.openai.com", BODY, 2) == PINNED_KEY
    # Fields outside the key material (a stream flag, say) do not re-key.
    assert request_key("api.openai.com", {**BODY, "stream": False}, 2) == PINNED_KEY


def test_pinned_key_of_an_audio_request():
    text = MATERIAL_TEXT.replace('"sample":2', '"sample":0').replace('"provider":"api.openai.com"',
                                                                     '"provider":"vllm.local"')
    text = text[:-1] + ',"audio_sha256":"' + "ab" * 32 + '","input":"audio"}'
    material = json.loads(text)   # re-sort by hand: the audio fields go where sorting puts them
    ordered = ",".join(f"{json.dumps(k)}:{json.dumps(material[k], ensure_ascii=False, separators=(',', ':'))}"
                       for k in sorted(material))
    assert sha("{" + ordered + "}") == PINNED_AUDIO_KEY
    assert request_key("vllm.local", BODY, 0, input="audio", audio_sha256="ab" * 32) == PINNED_AUDIO_KEY
    # A text request ignores an audio digest passed with it: text keys stay as they always were.
    assert request_key("api.openai.com", BODY, 2, input="text", audio_sha256="ab" * 32) == PINNED_KEY


@pytest.mark.parametrize("field, value", [
    ("model", "gpt-4o-mini"), ("messages", [{"role": "user", "content": "Cafe"}]), ("temperature", 1.0),
    ("top_p", 1.0), ("max_tokens", 124), ("seed", 6), ("response_format", None),
    ("response_format", {"type": "json_schema"})])
def test_each_body_field_of_the_material_changes_the_key(field, value):
    body = {**BODY, field: value}
    if value is None:
        del body[field]   # absent and null are the same request
    material = json.loads(MATERIAL_TEXT)
    material[field] = value
    assert request_key("api.openai.com", body, 2) == sha(canonical_json_by_hand(material)) != PINNED_KEY


def canonical_json_by_hand(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_provider_sample_and_audio_each_change_the_key():
    keys = {request_key("api.openai.com", BODY, 2), request_key("localhost", BODY, 2),
            request_key("api.openai.com", BODY, 0), request_key("api.openai.com", BODY, 3),
            request_key("api.openai.com", BODY, 2, input="audio", audio_sha256="ab" * 32),
            request_key("api.openai.com", BODY, 2, input="audio", audio_sha256="cd" * 32),
            request_key("api.openai.com", BODY, 2, input="text+audio", audio_sha256="ab" * 32)}
    assert len(keys) == 7
    material = json.loads(MATERIAL_TEXT)
    assert request_key("localhost", BODY, 2) == sha(canonical_json_by_hand({**material, "provider": "localhost"}))
    assert request_key("api.openai.com", BODY, 3) == sha(canonical_json_by_hand({**material, "sample": 3}))


def _prompt(**over) -> dict:
    return {"key": "k0", "provider": "api.openai.com", "sample": 2, "body": dict(BODY), **over}


def test_reask_seeds_and_keys():
    prompt = _prompt()
    assert with_seed(prompt, 0) == ("k0", prompt["body"])   # the original: its own key, untouched body
    material = json.loads(MATERIAL_TEXT)
    for attempt, seed in ((1, 1_000_008), (2, 2_000_011)):
        key, body = with_seed(prompt, attempt)
        assert body == {**BODY, "seed": seed}
        assert key == sha(canonical_json_by_hand({**material, "seed": seed}))
    assert prompt["body"]["seed"] == 5   # the prompt's own body is not changed
    audio = _prompt(input="audio", audio={"sha256": "ab" * 32, "path": "x.wav"})
    key, _ = with_seed(audio, 1)
    assert key == sha(canonical_json_by_hand({**material, "seed": 1_000_008, "input": "audio",
                                              "audio_sha256": "ab" * 32}))


def test_audio_key_parts():
    assert audio_key({"input": "text", "audio": {"sha256": "ab"}}) == {}
    assert audio_key({}) == {}
    assert audio_key({"input": "audio", "audio": {"sha256": "ab"}}) == {"input": "audio", "audio_sha256": "ab"}
    assert audio_key({"input": "text+audio", "audio": None}) == {"input": "text+audio", "audio_sha256": None}


def test_response_format_of_each_kind():
    schema = response_format_body("json_schema")
    assert schema == {"type": "json_schema", "json_schema": {"name": "melt_annotation", "strict": True,
                                                             "schema": ANSWER_SCHEMA}}
    assert schema["json_schema"]["schema"]["properties"]["elements"]["properties"]["emotion"]["enum"] == [
        "Neutral", "Joy", "Sadness", "Anger", "Surprise", "Fear", "Disgust"] or sorted(
        schema["json_schema"]["schema"]["properties"]["elements"]["properties"]["emotion"]["enum"]) == [
        "Anger", "Disgust", "Fear", "Joy", "Neutral", "Sadness", "Surprise"]
    assert response_format_body("json_object") == {"type": "json_object"}
    assert response_format_body("none") is None


def test_per_sample_seeds_bodies_and_keys():
    settings = AnnotatorSettings(backend="openai", base_url="http://user:pw@vllm.local:8000/v1", seed=40,
                                 samples=3, temperature=0.5, top_p=0.8, max_tokens=77, response_format="none")
    messages = [{"role": "user", "content": "Ünïcode"}]
    recs = list(sample_requests({"split": "dev", "dialogue_id": 1}, messages, settings, "m"))
    assert [r["sample"] for r in recs] == [0, 1, 2]
    assert [r["body"]["seed"] for r in recs] == [40, 41, 42]
    for r in recs:
        assert r["provider"] == "vllm.local" and r["split"] == "dev" and r["dialogue_id"] == 1
        assert r["body"] == {"model": "m", "messages": messages, "temperature": 0.5, "top_p": 0.8,
                             "max_tokens": 77, "seed": 40 + r["sample"]}   # no response_format for "none"
        assert "input" not in r and "audio" not in r
        assert r["key"] == sha(canonical_json_by_hand({
            "provider": "vllm.local", "model": "m", "messages": messages, "temperature": 0.5, "top_p": 0.8,
            "max_tokens": 77, "response_format": None, "seed": 40 + r["sample"], "sample": r["sample"]}))
    audio = AnnotatorSettings(backend="openai", input="audio", response_format="json_object", samples=1)
    (rec,) = sample_requests({}, messages, audio, "m", audio={"sha256": "ef" * 32, "path": "a.wav"})
    assert rec["input"] == "audio" and rec["audio"] == {"sha256": "ef" * 32, "path": "a.wav"}
    assert rec["body"]["response_format"] == {"type": "json_object"}
    assert rec["key"] == sha(canonical_json_by_hand({
        "provider": "api.openai.com", "model": "m", "messages": messages, "temperature": 1.0, "top_p": 1.0,
        "max_tokens": 400, "response_format": {"type": "json_object"}, "seed": 0, "sample": 0,
        "input": "audio", "audio_sha256": "ef" * 32}))


def test_effective_model_by_backend_and_input():
    assert effective_model(AnnotatorSettings(backend="offline")) == HEURISTIC_ID == "offline-heuristic-v1"
    assert effective_model(AnnotatorSettings(backend="offline", input="audio")) == AUDIO_HEURISTIC_ID
    assert effective_model(AnnotatorSettings(backend="labels-file", model="x", labels_files={"train": "t.csv"})) == "labels-file"
    assert effective_model(AnnotatorSettings(backend="openai", model="qwen2-audio")) == "qwen2-audio"
    # pseudo-labelling's params have no `input`: text
    assert not hasattr(PseudolabelParams(backend="offline"), "input")
    assert effective_model(PseudolabelParams(backend="offline")) == HEURISTIC_ID


def test_content_text_of_a_string_and_of_parts():
    assert content_text("plain") == "plain"
    parts = [{"type": "text", "text": "a"}, {"type": "input_audio", "input_audio": {}}, {"type": "text", "text": "b"}]
    assert content_text(parts) == "a\nb"


def test_template_lookup_render_and_prompt_file_errors(tmp_path):
    # only trailing newlines are dropped: a trailing space or "X" stays
    (tmp_path / "mine.txt").write_text("$speaker in $show S$season E$episode said: $utterance X\n\n",
                                       encoding="utf-8")
    (tmp_path / "other.txt").write_text("x \n", encoding="utf-8")
    template = load_template("mine", tmp_path)
    row = {"Speaker": "joey tribbiani", "Season": "3", "Episode": 7.0, "Utterance": "  How you doin'?  "}
    assert render(template, "Friends", row) == "Joey Tribbiani in Friends S3 E7 said: How you doin'? X"
    assert load_template("other", tmp_path).template == "x "
    with pytest.raises(FileNotFoundError) as err:
        load_template("absent", tmp_path, "annotate.annotators.a.prompt")
    assert str(err.value) == (f"prompt template {tmp_path / 'absent.txt'} not found (annotate.annotators.a.prompt); "
                              "available: ['mine', 'other']")
    with pytest.raises(FileNotFoundError, match=r"not found \(prompt\); available"):
        load_template("absent", tmp_path)

    (tmp_path / "train.jsonl").write_text('{"a": 1}\n{"a": 2}\n', encoding="utf-8")
    (tmp_path / "dev.jsonl").write_text('{"a": 3}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'dev.jsonl'}: line 2 is not JSON: "):
        list(iter_prompts(tmp_path, ("train", "dev")))
    assert [r["a"] for r in iter_prompts(tmp_path, ("train",))] == [1, 2]
