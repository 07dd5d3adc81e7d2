"""The study app over real HTTP (uvicorn on a loopback port): participants, answers, review, exports, security."""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import sqlite3
import subprocess
from collections import Counter

import httpx
import pandas as pd
import pytest

from conftest import run, run_env
from melt.study.params import StudyParams
from study_helpers import LiveApp, build_study


@pytest.fixture
def live(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    app = LiveApp(tmp_path, questions=5, attention=1)
    yield app
    app.stop()


@pytest.fixture
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def _items(live) -> pd.DataFrame:
    return pd.read_csv(live.root / "data" / "study" / "items.csv", dtype=str, keep_default_na=False)


def _join(client, **demographics):
    r = client.post("/api/participants", json={"consent": True, **demographics})
    assert r.status_code == 201, r.text
    return r.json()


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _rows(live, table):
    with sqlite3.connect(live.store.path) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _reviewer(live, name="alice"):
    return live.store.add_reviewer(name)


def test_participant_gets_questions_with_both_labels_and_playable_media(live, client):
    joined = _join(client, gender="female", headphones="yes")
    items = _items(live).set_index("item_id")
    questions = joined["questions"]
    assert len(questions) == 6 and [q["position"] for q in questions] == list(range(1, 7))
    kinds = Counter(items.loc[q["question_id"], "kind"] for q in questions)
    assert kinds == {"preference": 5, "attention": 1}
    for q in questions:
        item = items.loc[q["question_id"]]
        assert sorted(q["options"]) == sorted([item["option_1"], item["option_2"]])
        assert q["text"] == item["Utterance"] and q["answered"] is None
        assert set(q) == {"question_id", "position", "media_url", "media_type", "text", "options", "answered"}
        media = client.get(q["media_url"])
        assert media.status_code == 200 and media.headers["content-type"] == "audio/wav"
        assert media.content == (live.root / item["audio_path"]).read_bytes()
    with sqlite3.connect(live.store.path) as con:
        assert con.execute("SELECT gender, headphones, age_range FROM participants").fetchall() == [
            ("female", "yes", None)]


def test_an_answer_counts_once_and_the_participant_resumes_where_they_stopped(live, client):
    joined = _join(client)
    pid, token, questions = joined["participant_id"], joined["token"], joined["questions"]
    first, second = questions[0], questions[1]
    r = client.post("/api/answers", headers=_auth(token),
                    json={"participant_id": pid, "question_id": first["question_id"], "choice": first["options"][1],
                          "media_played_s": 0.3})
    assert r.status_code == 201 and r.json() == {"status": "recorded", "recorded": True,
                                                 "choice": first["options"][1], "remaining": 5}
    for choice in first["options"]:   # a repeat, even with the other option, changes nothing and says so
        again = client.post("/api/answers", headers=_auth(token),
                            json={"participant_id": pid, "question_id": first["question_id"], "choice": choice})
        assert again.status_code == 200
        assert again.json()["status"] == "already_answered" and again.json()["choice"] == first["options"][1]
    with sqlite3.connect(live.store.path) as con:
        assert con.execute("SELECT participant_id, item_id, choice, media_played_s FROM answers").fetchall() == [
            (pid, first["question_id"], first["options"][1], 0.3)]
    me = client.get("/api/participants/me", headers=_auth(token)).json()
    assert [q["answered"] for q in me["questions"]] == [first["options"][1]] + [None] * 5
    assert (me["answered"], me["remaining"], me["completed"]) == (1, 5, False)
    assert me["questions"][1]["question_id"] == second["question_id"]


def test_finishing_marks_the_participant_complete(live, client):
    joined = _join(client)
    for q in joined["questions"]:
        client.post("/api/answers", headers=_auth(joined["token"]),
                    json={"participant_id": joined["participant_id"], "question_id": q["question_id"],
                          "choice": q["options"][0]})
    me = client.get("/api/participants/me", headers=_auth(joined["token"])).json()
    assert me["completed"] and me["remaining"] == 0
    with sqlite3.connect(live.store.path) as con:
        assert con.execute("SELECT completed_at IS NOT NULL FROM participants").fetchone() == (1,)


def test_items_are_spread_evenly_over_participants(live, client):
    pool = len(live.catalog.preference)   # 21 items, 5 per participant
    for _ in range(8):
        _join(client)
    with sqlite3.connect(live.store.path) as con:
        counts = dict(con.execute("SELECT item_id, COUNT(*) FROM questions WHERE kind = 'preference' GROUP BY item_id"))
    per_item = [counts.get(i.item_id, 0) for i in live.catalog.preference]
    assert sum(per_item) == 40 and len(per_item) == pool
    assert max(per_item) - min(per_item) <= 1


# --- security -------------------------------------------------------------------------------------------------

def test_answers_need_the_participants_own_token(live, client):
    a, b = _join(client), _join(client)
    q = a["questions"][0]
    body = {"participant_id": a["participant_id"], "question_id": q["question_id"], "choice": q["options"][0]}
    assert client.post("/api/answers", json=body).status_code == 401
    assert client.post("/api/answers", json=body, headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.post("/api/answers", json=body, headers=_auth("not-a-token")).status_code == 401
    r = client.post("/api/answers", json=body, headers=_auth(b["token"]))   # B's token, A's participant id
    assert r.status_code == 403 and "another participant" in r.json()["detail"]
    # B's token on B's own id but A's question (least-assigned items first: B was given other items).
    assert q["question_id"] not in {x["question_id"] for x in b["questions"]}
    r = client.post("/api/answers", headers=_auth(b["token"]), json={**body, "participant_id": b["participant_id"]})
    assert r.status_code == 404
    assert client.get("/api/participants/me").status_code == 401
    assert _rows(live, "answers") == 0


def test_a_choice_that_is_not_an_option_is_refused(live, client):
    joined = _join(client)
    q = joined["questions"][0]
    others = {"anger", "joy", "sadness", "fear", "surprise", "disgust", "neutral"} - set(q["options"])
    r = client.post("/api/answers", headers=_auth(joined["token"]),
                    json={"participant_id": joined["participant_id"], "question_id": q["question_id"],
                          "choice": sorted(others)[0]})
    assert r.status_code == 422 and _rows(live, "answers") == 0


@pytest.mark.parametrize("body", [
    b"{not json",
    b'{"consent": true, "gender": "female", "admin": true}',      # unknown field
    b'{"consent": "yes"}',                                        # wrong type
    b'{"consent": false}',                                        # no consent, no participant
    b'{"consent": true, "gender": "<script>alert(1)</script>"}',  # not one of the choices
    b"[]",
])
def test_malformed_participant_bodies_are_refused_and_nothing_is_written(live, client, body):
    r = client.post("/api/participants", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert _rows(live, "participants") == 0 and _rows(live, "questions") == 0


def test_oversized_bodies_are_refused_before_parsing(live, client):
    joined = _join(client)
    q = joined["questions"][0]
    big = {"participant_id": joined["participant_id"], "question_id": q["question_id"], "choice": "x" * 20_000}
    r = client.post("/api/answers", json=big, headers=_auth(joined["token"]))
    assert r.status_code == 413

    def chunks():   # no Content-Length: the body is counted as it arrives
        yield b'{"consent": true, "gender": "'
        for _ in range(40):
            yield b"a" * 1024
        yield b'"}'

    r = client.post("/api/participants", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert _rows(live, "answers") == 0 and _rows(live, "participants") == 1


def _raw_get(live, path: str) -> int:
    """GET with the path sent byte for byte (clients normalise `..`)."""
    host, port = live.url.removeprefix("http://").split(":")
    con = http.client.HTTPConnection(host, int(port), timeout=10)
    con.putrequest("GET", path, skip_accept_encoding=True)
    con.endheaders()
    status = con.getresponse().status
    con.close()
    return status


@pytest.mark.parametrize("path", [
    "/media/../../../../etc/passwd",
    "/media/..%2F..%2F..%2Fetc%2Fpasswd/audio",
    "/media/%2e%2e%2f%2e%2e%2fpyproject.toml/audio",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/%2e%2e/params.py",
    "/media/0123456789abcdef/audio",        # well-formed id, not in the study set
    "/media/0123456789abcdef/../../etc/passwd",
])
def test_media_routes_serve_nothing_outside_the_study_set(live, path):
    assert _raw_get(live, path) == 404


def test_media_kind_and_id_must_match_the_study_set(live, client):
    item = live.catalog.preference[0]
    assert client.get(f"/media/{item.item_id}/audio").status_code == 200
    assert client.get(f"/media/{item.item_id}/video").status_code == 404    # no video for this item
    assert client.get(f"/media/{item.item_id}/passwd").status_code == 404
    assert client.get(f"/media/{item.item_id.upper()}/audio").status_code == 404


def test_pages_are_served_with_a_strict_content_security_policy(live, client):
    for path in ("/", "/study", "/review"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in r.text   # scripts only from /static
    assert "6 short clips" in client.get("/").text
    assert client.get("/static/study.js").status_code == 200


# --- review -----------------------------------------------------------------------------------------------------

def test_review_queue_needs_a_reviewer_token(live, client):
    participant = _join(client)
    assert client.get("/api/review/queue").status_code == 401
    assert client.get("/api/review/queue", headers=_auth(participant["token"])).status_code == 401
    assert client.get("/api/export", headers=_auth(participant["token"])).status_code == 401
    token = _reviewer(live)
    r = client.get("/api/review/queue", headers=_auth(token), params={"limit": 500})
    assert r.status_code == 200
    queue = pd.read_csv(live.root / "data" / "study" / "review_queue.csv", dtype=str, keep_default_na=False)
    data = r.json()
    assert data["total"] == len(queue) and [i["item_id"] for i in data["items"]] == list(queue["item_id"])
    first = data["items"][0]
    meld, llm = first["suggestions"]
    assert (meld["source"], meld["label"]) == ("meld", queue["meld_label"][0])
    assert (llm["source"], llm["label"], llm["score"]) == ("llm", queue["llm_label"][0], 1.0)
    assert llm["voice"] == {"loudness": "moderate", "pitch": "medium pitch", "rhythm_speed": "moderate",
                            "emotional_impact": "calm"}


def test_review_decisions_keep_their_source_reviewer_and_note(live, client):
    token = _reviewer(live, "alice")
    queue = client.get("/api/review/queue", headers=_auth(token)).json()["items"]
    a, b, c, d = queue[:4]
    note = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    def decide(body):
        return client.post("/api/review/decisions", headers=_auth(token), json=body)

    r = decide({"item_id": a["item_id"], "source": "llm"})
    assert r.status_code == 201 and (r.json()["final_label"], r.json()["label_source"]) == (
        a["suggestions"][1]["label"], "llm")
    assert decide({"item_id": b["item_id"], "source": "meld", "note": note}).json()["note"] == note
    free = decide({"item_id": c["item_id"], "source": "reviewer", "label": " Frustration "}).json()
    assert (free["final_label"], free["label_source"], free["reviewer"]) == ("frustration", "reviewer", "alice")
    same_as_meld = decide({"item_id": d["item_id"], "source": "reviewer", "label": d["suggestions"][0]["label"]})
    assert same_as_meld.json()["label_source"] == "meld"
    before = _rows(live, "decisions")
    for bad in ({"item_id": a["item_id"], "source": "reviewer", "label": "<b>joy</b>"},
                {"item_id": a["item_id"], "source": "reviewer"},
                {"item_id": a["item_id"], "source": "llm", "label": "joy"},
                {"item_id": a["item_id"], "source": "crowd"},
                {"item_id": a["item_id"], "source": "llm", "note": "n" * 2001}):
        assert decide(bad).status_code == 422, bad
    assert decide({"item_id": "0123456789abcdef", "source": "llm"}).status_code == 404
    assert _rows(live, "decisions") == before == 4
    shown = client.get("/api/review/queue", headers=_auth(token), params={"status": "decided"}).json()
    assert shown["decided"] == 4 and {i["item_id"] for i in shown["items"]} == {x["item_id"] for x in (a, b, c, d)}
    assert next(i for i in shown["items"] if i["item_id"] == b["item_id"])["decision"]["note"] == note
    assert client.get("/api/review/queue", headers=_auth(token),
                      params={"status": "open"}).json()["matching"] == shown["total"] - 4


# --- exports ----------------------------------------------------------------------------------------------------

def _answer_all(client, joined, pick=0):
    for q in joined["questions"]:
        client.post("/api/answers", headers=_auth(joined["token"]),
                    json={"participant_id": joined["participant_id"], "question_id": q["question_id"],
                          "choice": q["options"][pick]})


def test_exports_match_the_database_and_hold_no_token(live, client):
    people = [_join(client, gender="male"), _join(client)]
    _answer_all(client, people[0], 0)
    _answer_all(client, people[1], 1)
    staff = _reviewer(live)
    queue = client.get("/api/review/queue", headers=_auth(staff)).json()["items"]
    client.post("/api/review/decisions", headers=_auth(staff), json={"item_id": queue[0]["item_id"], "source": "meld"})
    with sqlite3.connect(live.store.path) as con:
        db = set(con.execute("SELECT participant_id, item_id, choice FROM answers"))
    assert len(db) == 12

    data = client.get("/api/export", headers=_auth(staff)).json()
    assert {(a["participant_id"], a["item_id"], a["choice"]) for a in data["answers"]} == db
    assert {p["participant_id"]: p["gender"] for p in data["participants"]} == {
        people[0]["participant_id"]: "male", people[1]["participant_id"]: None}

    r = client.get("/api/export", headers=_auth(staff), params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {(x["participant_id"], x["item_id"], x["choice"]) for x in rows} == db

    argilla = client.get("/api/export", headers=_auth(staff), params={"format": "argilla"}).json()
    got = {(resp["user_id"], rec["id"], resp["value"]) for rec in argilla["records"]
           for resp in rec["responses"]["emotion"]}
    assert got == db and argilla["settings"]["questions"][0]["name"] == "emotion"

    studio = client.get("/api/export", headers=_auth(staff), params={"format": "label-studio"}).json()
    got = {(ann["completed_by"], task["data"]["item_id"], ann["result"][0]["value"]["choices"][0])
           for task in studio for ann in task["annotations"]}
    assert got == db

    decisions = client.get("/api/review/export", headers=_auth(staff), params={"format": "label-studio"}).json()
    assert decisions[0]["data"]["item_id"] == queue[0]["item_id"]
    assert decisions[0]["annotations"][0]["result"][0]["value"]["choices"] == [queue[0]["suggestions"][0]["label"]]

    everything = "".join(client.get(path, headers=_auth(staff), params={"format": f}).text
                         for path in ("/api/export", "/api/review/export")
                         for f in ("json", "csv", "argilla", "label-studio"))
    for secret in (staff, people[0]["token"], people[1]["token"]):
        assert secret not in everything
        assert hashlib.sha256(secret.encode()).hexdigest() not in everything


def test_cli_adds_reviewers_and_exports_what_the_api_exports(live, client, tmp_path):
    joined = _join(client)
    _answer_all(client, joined, 1)
    db = str(live.store.path)
    token = run(["melt-study", "--db", db, "reviewer", "add", "carol"], tmp_path).stdout.strip()
    assert client.get("/api/review/me", headers=_auth(token)).json() == {"reviewer": "carol"}
    new = run(["melt-study", "--db", db, "reviewer", "add", "carol"], tmp_path).stdout.strip()
    assert client.get("/api/review/me", headers=_auth(token)).status_code == 401   # replaced, old one revoked
    for fmt in ("csv", "argilla", "label-studio", "json"):
        run(["melt-study", "--db", db, "export", "answers", "--format", fmt, "-o", str(tmp_path / f"a.{fmt}")],
            tmp_path)
        via_api = client.get("/api/export", headers=_auth(new), params={"format": fmt})
        written = (tmp_path / f"a.{fmt}").read_text()
        assert (written == via_api.text) if fmt == "csv" else (json.loads(written) == via_api.json())
    bad = subprocess.run(["melt-study", "--db", db, "reviewer", "add", "<bob>"], cwd=tmp_path, capture_output=True,
                         text=True, env=run_env())
    assert bad.returncode != 0 and "reviewer name" in bad.stderr
