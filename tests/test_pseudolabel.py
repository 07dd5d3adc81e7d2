"""Pseudo-labels through the annotation engine: one-word answer validation, VADER offline, the loopback
OpenAI-compatible server (re-asks, out-of-set answers recorded, cost), and one answer store shared with annotate."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from melt.annotate.params import PromptsParams
from melt.annotate.requests import write_annotator_prompts
from melt.annotate.run import annotate_single
from melt.pretrain.params import PseudolabelParams
from melt.pretrain.pseudolabel import pseudolabel
from melt.pretrain.sentiment import VADER_ID, check_sentiment, vader_label
from annotate_helpers import prepared_rows, server_params
from llm_server import Faults
from pretrain_helpers import SentimentServer

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["I love this, it is wonderful!", "The bus leaves at nine.", "This is awful and I hate it.",
         "What a lovely surprise, thank you.", "My laptop crashed and I lost everything.", "The meeting is on Monday."]


def pseudolabel_params(settings, exclude=(), **kw) -> PseudolabelParams:
    """Pseudolabel params with an annotator's settings (those pseudolabel has, less `exclude`)."""
    fields = {k: v for k, v in settings.model_dump().items() if k in PseudolabelParams.model_fields and k not in exclude}
    return PseudolabelParams(**fields, **kw)


def snapshot_records(folder: Path) -> list[dict]:
    """The answer records of a snapshot folder (the store's line format: key, checksum, JSON)."""
    return [json.loads(line.split("\t", 2)[2]) for path in sorted(folder.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def transcripts(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "transcripts.csv"
    pd.DataFrame({"item_id": [f"item{i}" for i in range(len(texts))], "text": texts}).to_csv(path, index=False)
    return path


def run(tmp_path, params, texts, tag="out", store=None) -> tuple[pd.DataFrame, dict, dict]:
    out = tmp_path / tag
    summary = pseudolabel(params, "corpus", transcripts(tmp_path, texts), store=str(store or tmp_path / "store"),
                          out_dir=out, metrics_path=out / "metrics.json", report_dir=out / "rep",
                          templates_dir=REPO / "prompts", progress=False)
    table = pd.read_csv(out / "corpus.csv", keep_default_na=False)
    return table, summary, json.loads((out / "rep" / "corpus.json").read_text())


@pytest.mark.parametrize("raw, label", [("positive", "positive"), ("Negative.", "negative"), (' "NEUTRAL" ', "neutral"),
                                        ("**positive**", "positive"), ("mostly positive", None), ("", None),
                                        ("positive, negative", None), ("joy", None), (None, None)])
def test_one_word_answers(raw, label):
    checked = check_sentiment(raw)
    assert checked.label == label
    assert (checked.error is None) == (label is not None)


def test_offline_vader_labels_through_the_engine(tmp_path):
    table, summary, report = run(tmp_path, PseudolabelParams(), TEXTS)
    assert table["label"].tolist() == [vader_label(t) for t in TEXTS]
    assert table["label"].tolist()[:3] == ["positive", "neutral", "negative"]   # hand-checked
    assert set(table["status"]) == {"ok"} and summary["requests_sent"] == len(TEXTS)
    assert report["model"] == VADER_ID and report["lexicon_or_heuristic_baseline"] is True
    snapshot = snapshot_records(tmp_path / "out" / "corpus_answers")
    assert sorted(r["raw"] for r in snapshot) == sorted(table["label"])
    again, summary2, _ = run(tmp_path, PseudolabelParams(), TEXTS, tag="again")
    assert summary2["requests_sent"] == 0 and summary2["cache_hits"] == len(TEXTS)
    assert (tmp_path / "again" / "corpus.csv").read_bytes() == (tmp_path / "out" / "corpus.csv").read_bytes()


def test_llm_answers_outside_the_label_set_are_reasked_then_recorded(tmp_path):
    texts = TEXTS[:3] + ["Please answer frustration now."]
    with SentimentServer(Faults(script=["out_of_set"])) as server:
        params = pseudolabel_params(server_params(server, max_invalid_retries=1, concurrency=1),
                                    exclude={"model", "temperature", "max_tokens", "response_format", "prices"})
        table, summary, report = run(tmp_path, params, texts)
        sent = server.chat_requests
    by_id = table.set_index("item_id")
    # item0's first answer was out of set ("mostly positive"), its re-ask (a new seed) was valid
    assert by_id.loc["item0", "status"] == "ok"
    # item3 always answers "frustration": re-asked once, then recorded invalid with the reason
    assert by_id.loc["item3", "status"] == "invalid" and by_id.loc["item3", "label"] == ""
    assert "out-of-set answer 'frustration'" in by_id.loc["item3", "error"]
    assert sent == len(texts) + 2 == summary["requests_sent"]
    assert report["not_labelled"] == [{"item_id": "item3", "status": "invalid",
                                       "error": by_id.loc["item3", "error"]}]
    # cost of the answers used: the server's token counts × the gpt-3.5-turbo price (USD per 1M tokens)
    answers = snapshot_records(tmp_path / "out" / "corpus_answers")
    expected = sum(a["prompt_tokens"] * 0.50 + a["completion_tokens"] * 1.50 for a in answers) / 1e6
    assert report["cost_usd"] == pytest.approx(expected, abs=1e-6) and expected > 0


def test_a_prompt_asked_by_annotate_and_pseudolabel_is_paid_once(tmp_path):
    """Same template, same utterance, same model and sampling: one request key, one answer in the store."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "shared.txt").write_text("Describe how this line sounds, as JSON: ${utterance}\n", encoding="utf-8")
    rows = prepared_rows(5)
    store = tmp_path / "store"
    with SentimentServer() as server:
        annotate_params = server_params(server, prompt="shared")
        prepared = tmp_path / "prepared"
        prepared.mkdir()
        rows.to_csv(prepared / "train.csv", index=False)
        for split in ("dev", "test"):
            rows.iloc[:0].to_csv(prepared / f"{split}.csv", index=False)
        write_annotator_prompts(prepared, tmp_path / "prompts", PromptsParams(), annotate_params,
                                templates_dir=templates)
        params = pseudolabel_params(annotate_params, exclude={"prices", "store"}, template="shared", labels="emotion")
        out = tmp_path / "pl"
        pseudolabel(params, "corpus", transcripts(tmp_path, rows["Utterance"].tolist()[:3]), store=str(store),
                    out_dir=out, metrics_path=out / "m.json", report_dir=out / "rep", templates_dir=templates,
                    progress=False)
        assert server.chat_requests == 3
        result = annotate_single(annotate_params.model_copy(update={"store": str(store)}), tmp_path / "prompts",
                                 tmp_path / "annotations", tmp_path / "snapshot", tmp_path / "report.json",
                                 tmp_path / "annotate.json", progress=False)
        assert server.chat_requests == 5          # only the two utterances pseudolabel did not ask
    metrics = result["metrics"]
    assert metrics["cache_hits"] == 3 and metrics["requests_sent"] == 2
    labels = pd.read_csv(out / "corpus.csv", keep_default_na=False)["label"].tolist()
    annotated = [json.loads(line)["label"] for line in (tmp_path / "annotations" / "train.jsonl").read_text().splitlines()]
    assert labels == annotated[:3]                 # the same stored answers, validated the same way


def test_a_fresh_clone_pays_nothing_again(tmp_path):
    """The DVC snapshot of the answers used seeds an empty store (a fresh clone after `dvc pull`)."""
    import shutil

    with SentimentServer() as server:
        params = pseudolabel_params(server_params(server),
                                    exclude={"model", "temperature", "max_tokens", "response_format", "prices", "store"})
        table, first, _ = run(tmp_path, params, TEXTS)
        shutil.rmtree(tmp_path / "store")                      # the clone has the snapshot, not the store
        again, second, _ = run(tmp_path, params, TEXTS)         # same out dir: its snapshot is imported first
        assert server.chat_requests == len(TEXTS)
    assert first["requests_sent"] == len(TEXTS) and second["requests_sent"] == 0
    assert second["imported_from_snapshot"] == len(TEXTS)
    assert again.equals(table)
