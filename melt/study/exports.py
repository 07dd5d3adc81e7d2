"""Answers and review decisions in the shapes other tools import: plain JSON, CSV, Argilla- and Label Studio-style
JSON. Built from the store's tables only (tokens are never in them); CSV cells are guarded against formula
injection."""

from __future__ import annotations

import csv
import io
from typing import Literal

from melt.data.labels import EMOTIONS
from melt.study.store import StudyStore

Format = Literal["json", "csv", "argilla", "label-studio"]
QUESTION = "emotion"   # the name of the label question in Argilla / Label Studio configs


# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, prefixed with `'` so it is shown as text; anything else
    unchanged (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(rows: list[dict]) -> str:
    """CSV safe to open in a spreadsheet: free text (notes, utterances, labels) cannot start a formula."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def _key(row: dict) -> dict:
    return {"split": row["split"], "dialogue_id": row["dialogue_id"], "utterance_id": row["utterance_id"]}


def _ls_choice(label: str) -> list[dict]:
    return [{"from_name": QUESTION, "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def _argilla_settings(extra_questions: list[dict]) -> dict:
    return {"fields": [{"name": "text", "type": "text"}],
            "questions": [{"name": QUESTION, "type": "label_selection", "labels": list(EMOTIONS)}, *extra_questions],
            "metadata": [{"name": n, "type": "terms"} for n in ("split", "kind", "meld_label", "melt_label")]}


def answers_export(store: StudyStore, fmt: Format) -> dict | list | str:
    answers, participants = store.answers(), store.participants()
    if fmt == "json":
        return {"answers": answers, "participants": participants}
    if fmt == "csv":
        return _csv(answers)
    by_item: dict[str, list[dict]] = {}
    for a in answers:
        by_item.setdefault(a["item_id"], []).append(a)
    if fmt == "argilla":
        records = []
        for item_id, rows in sorted(by_item.items()):
            first = rows[0]
            records.append({
                "id": item_id,
                "fields": {"text": first["text"]},
                "metadata": {**_key(first), "kind": first["kind"], "meld_label": first["meld_label"],
                             "melt_label": first["melt_label"]},
                "suggestions": {QUESTION: {"value": first["melt_label"], "agent": "melt-llm", "score": None}},
                "responses": {QUESTION: [{"user_id": r["participant_id"], "value": r["choice"],
                                          "status": "submitted"} for r in rows]},
            })
        return {"settings": _argilla_settings([]), "records": records}
    tasks = []
    for n, (item_id, rows) in enumerate(sorted(by_item.items()), start=1):
        first = rows[0]
        tasks.append({
            "id": n,
            "data": {"text": first["text"], "item_id": item_id, **_key(first), "kind": first["kind"],
                     "options": [first["option_a"], first["option_b"]]},
            "annotations": [{"completed_by": r["participant_id"], "created_at": r["answered_at"],
                             "result": _ls_choice(r["choice"])} for r in rows],
            "predictions": [{"model_version": "melt-llm", "result": _ls_choice(first["melt_label"])},
                            {"model_version": "meld", "result": _ls_choice(first["meld_label"])}],
        })
    return tasks


def decisions_export(store: StudyStore, fmt: Format) -> dict | list | str:
    decisions = store.decisions()
    if fmt == "json":
        return {"decisions": decisions}
    if fmt == "csv":
        return _csv(decisions)
    latest = store.latest_decisions()
    if fmt == "argilla":
        records = [{
            "id": item_id,
            "fields": {"text": d["text"]},
            "metadata": {**_key(d), "kind": "review", "meld_label": d["meld_label"], "melt_label": d["llm_label"]},
            "suggestions": {QUESTION: {"value": d["llm_label"], "agent": "melt-llm", "score": None}},
            "responses": {QUESTION: [{"user_id": d["reviewer"], "value": d["final_label"], "status": "submitted"}],
                          "note": [{"user_id": d["reviewer"], "value": d["note"], "status": "submitted"}]},
        } for item_id, d in sorted(latest.items())]
        return {"settings": _argilla_settings([{"name": "note", "type": "text"}]), "records": records}
    return [{
        "id": n,
        "data": {"text": d["text"], "item_id": item_id, **_key(d)},
        "annotations": [{"completed_by": d["reviewer"], "created_at": d["reviewed_at"],
                         "result": _ls_choice(d["final_label"]) + [
                             {"from_name": "note", "to_name": "text", "type": "textarea",
                              "value": {"text": [d["note"]]}}]}],
        "predictions": [{"model_version": "melt-llm", "result": _ls_choice(d["llm_label"])},
                        {"model_version": "meld", "result": _ls_choice(d["meld_label"])}],
    } for n, (item_id, d) in enumerate(sorted(latest.items()), start=1)]
