"""Load: 50 participants answering at once through the API of `melt-study serve` (its own process), with the
sign-up limit, the cap and the play-time check on, lose no answer, and a double submit racing itself is stored
once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter

from melt.study.params import StudyParams
from study_helpers import ServedProcess, build_study, simulate_participants

PARTICIPANTS = 50


def test_fifty_concurrent_participants_lose_no_answer(tmp_path):
    build_study(tmp_path, StudyParams(per_label=3, attention_items=3))
    db = tmp_path / "answers.db"
    server = ServedProcess(tmp_path, "--db", str(db), "serve", "--questions", "6", "--attention", "1")
    try:
        result = asyncio.run(simulate_participants(server.url, PARTICIPANTS))
    finally:
        log = server.stop()
    sent = result["sent"]
    assert len(sent) == PARTICIPANTS * 7
    # Every question got one 201; the concurrent repeat of each first answer got 200 (already answered).
    assert Counter(result["statuses"]) == {201: PARTICIPANTS * 7, 200: PARTICIPANTS}
    with sqlite3.connect(db) as con:
        stored = {(p, q): c for p, q, c in con.execute("SELECT participant_id, item_id, choice FROM answers")}
        assert con.execute("SELECT COUNT(*) FROM participants WHERE completed_at IS NOT NULL").fetchone() == (
            PARTICIPANTS,)
        # The new checks ran on every answer: each participant signed up from its own address under the default
        # per-address limit, and the server checked each answer's play time against the clip's duration.
        assert con.execute("SELECT COUNT(*) FROM answers WHERE played_enough = 1").fetchone() == (len(stored),)
    print(f"{len(stored)} answers stored of {len(sent)} sent by {PARTICIPANTS} concurrent participants")
    assert stored == sent
    assert log.count("POST /api/answers") == PARTICIPANTS * 8      # the access log is on...
    assert not any(token in log for token in result["tokens"])   # ...and no token reaches it
