"""The SQLite store of the app: participants, their questions and answers, reviewers and review decisions.

One database file in WAL mode (readers never block the writer); every write is one short `BEGIN IMMEDIATE`
transaction, so concurrent requests serialise on SQLite's lock instead of losing updates. Tokens are stored
only as SHA-256 digests: the database, its exports and the reports never hold a usable token. Each answer
and decision keeps a snapshot of the key and labels that were shown, so the analysis does not depend on a study
set that may have been re-sampled since, nor on the public ids. The secret that keys the public item ids and
signs media URLs (`melt.study.keys`) is generated with the database and kept in its `meta` table only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import random
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Sequence

from melt.study.keys import new_secret

SCHEMA_VERSION = "2"   # 2: keyed item ids (secret in meta), participants.last_active_at, answers.played_enough
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    participant_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    consent INTEGER NOT NULL CHECK (consent = 1),
    gender TEXT, age_range TEXT, native_english TEXT, headphones TEXT,
    completed_at TEXT,
    last_active_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS questions (
    participant_id TEXT NOT NULL REFERENCES participants (participant_id),
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('preference', 'attention')),
    split TEXT NOT NULL, dialogue_id INTEGER NOT NULL, utterance_id INTEGER NOT NULL,
    meld_label TEXT NOT NULL, melt_label TEXT NOT NULL, text TEXT NOT NULL,
    option_a TEXT NOT NULL, source_a TEXT NOT NULL,
    option_b TEXT NOT NULL, source_b TEXT NOT NULL,
    PRIMARY KEY (participant_id, item_id),
    UNIQUE (participant_id, position)
);
CREATE TABLE IF NOT EXISTS answers (
    participant_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    choice TEXT NOT NULL,
    chosen_source TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    media_played_s REAL,
    played_enough INTEGER CHECK (played_enough IN (0, 1)),   -- NULL: the clip's duration is unknown
    PRIMARY KEY (participant_id, item_id),
    FOREIGN KEY (participant_id, item_id) REFERENCES questions (participant_id, item_id)
);
CREATE TABLE IF NOT EXISTS play_refusals (   -- answers refused for too little play time (study.play_check: refuse)
    participant_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    media_played_s REAL,
    min_play_s REAL NOT NULL,
    refused_at TEXT NOT NULL,
    FOREIGN KEY (participant_id, item_id) REFERENCES questions (participant_id, item_id)
);
CREATE TABLE IF NOT EXISTS reviewers (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    split TEXT NOT NULL, dialogue_id INTEGER NOT NULL, utterance_id INTEGER NOT NULL,
    meld_label TEXT NOT NULL, llm_label TEXT NOT NULL, text TEXT NOT NULL,
    final_label TEXT NOT NULL,
    label_source TEXT NOT NULL CHECK (label_source IN ('llm', 'meld', 'reviewer')),
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL REFERENCES reviewers (name),
    reviewed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_item ON decisions (item_id, decision_id);
"""


class StoreError(Exception):
    """A request the store refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Item:
    """One row of the study set (`items.csv`) or the review queue, as the store snapshots it."""
    item_id: str
    kind: str
    split: str
    dialogue_id: int
    utterance_id: int
    meld_label: str
    melt_label: str
    text: str = ""
    option_1: str = ""
    source_1: str = ""
    option_2: str = ""
    source_2: str = ""


def utc_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utc_now() -> str:
    return utc_time(datetime.now(timezone.utc))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def least_answered(counts: dict[str, int], k: int, rng: random.Random) -> list[str]:
    """The `k` items with the lowest load (answers given + questions still being worked on); ties at random."""
    keyed = sorted(counts, key=lambda item: (counts[item], rng.random()))
    return keyed[:k]


class StudyStore:
    """The database at `path`; `create=False` opens an existing one (or none) without creating files."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        self.rng = random.SystemRandom()
        self._check_version()   # before anything writes to a file of another schema
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(self._connect()) as con:
                con.execute("PRAGMA journal_mode=WAL")
                known = con.execute("SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone()
                if known is None:
                    con.executescript(SCHEMA)
                    con.execute("BEGIN IMMEDIATE")
                    con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
                    con.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (new_secret(),))
                    con.execute("COMMIT")

    def _check_version(self) -> None:
        with self.read() as con:
            if con is None or con.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
                return   # no database yet (or an empty file): created with the current schema
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row["value"] != SCHEMA_VERSION:
            raise StoreError(500, f"{self.path}: database schema {row['value'] if row else '?'}, this melt-study "
                                  f"reads schema {SCHEMA_VERSION} (keyed item ids); finish that study with the "
                                  "version that created it, or export it (`melt-study export`) and move it away")

    @property
    def secret(self) -> str:
        """The database's secret (keys the public item ids, signs media URLs); never leaves the database."""
        with self.read() as con:
            row = None if con is None else con.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        if row is None:
            raise StoreError(500, f"{self.path}: no database (or no secret in it)")
        return row["value"]

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=30000")
        return con

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (`BEGIN IMMEDIATE`): committed on success, else rolled back."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection | None]:
        """A read connection, or None when the database does not exist (a fresh clone: no answers yet)."""
        if not self.exists:
            yield None
            return
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    # --- participants -------------------------------------------------------------------------------------
    def item_load(self, con: sqlite3.Connection, active_since: str) -> dict[str, int]:
        """Per item: answers given (those that count: not flagged for too little play time) plus unanswered
        questions of participants active since `active_since`; abandoned questions weigh nothing."""
        return {row["item_id"]: row["answered"] + row["pending"] for row in con.execute(
            "SELECT q.item_id, SUM(a.item_id IS NOT NULL AND a.played_enough IS NOT 0) AS answered, "
            "SUM(a.item_id IS NULL AND p.last_active_at >= ?) AS pending "
            "FROM questions q JOIN participants p ON p.participant_id = q.participant_id "
            "LEFT JOIN answers a ON a.participant_id = q.participant_id AND a.item_id = q.item_id "
            "GROUP BY q.item_id", (active_since,))}

    def create_participant(self, demographics: dict, preference: Sequence[Item], attention: Sequence[Item],
                           n_preference: int, n_attention: int, max_participants: int | None = None,
                           timeout_min: float = 30) -> tuple[str, str]:
        """A consenting participant with their questions: the least-loaded items (`item_load`, with questions of
        participants idle for `timeout_min` counted as abandoned), shuffled, options in random order. Refused
        (403) once the study has `max_participants`. Returns (participant_id, token); only the token's digest is
        stored."""
        participant_id, token = secrets.token_hex(8), secrets.token_urlsafe(32)
        by_id = {it.item_id: it for it in (*preference, *attention)}
        now = datetime.now(timezone.utc)
        with self.write() as con:
            if max_participants is not None:
                started = con.execute("SELECT COUNT(*) FROM participants").fetchone()[0]
                if started >= max_participants:
                    raise StoreError(403, f"the study is full: it accepts {max_participants} participants")
            load = self.item_load(con, utc_time(now - timedelta(minutes=timeout_min)))
            counts = {it.item_id: load.get(it.item_id, 0) for it in by_id.values()}
            chosen = least_answered({i.item_id: counts[i.item_id] for i in preference}, n_preference, self.rng)
            chosen += least_answered({i.item_id: counts[i.item_id] for i in attention}, n_attention, self.rng)
            self.rng.shuffle(chosen)
            con.execute(
                "INSERT INTO participants (participant_id, token_sha256, created_at, consent, gender, age_range, "
                "native_english, headphones, last_active_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (participant_id, token_digest(token), utc_time(now), demographics.get("gender"),
                 demographics.get("age_range"), demographics.get("native_english"), demographics.get("headphones"),
                 utc_time(now)))
            for position, iid in enumerate(chosen, start=1):
                it = by_id[iid]
                options = [(it.option_1, it.source_1), (it.option_2, it.source_2)]
                if self.rng.random() < 0.5:
                    options.reverse()
                con.execute(
                    "INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (participant_id, position, iid, it.kind, it.split, it.dialogue_id, it.utterance_id,
                     it.meld_label, it.melt_label, it.text, options[0][0], options[0][1], options[1][0], options[1][1]))
        return participant_id, token

    def _holder_of(self, table: str, column: str, token: str) -> str | None:
        """The `column` of the row of `table` whose token digest matches `token` (constant-time compare)."""
        with self.read() as con:
            if con is None:
                return None
            row = con.execute(f"SELECT {column}, token_sha256 FROM {table} WHERE token_sha256 = ?",
                              (token_digest(token),)).fetchone()
        if row is None or not hmac.compare_digest(row["token_sha256"], token_digest(token)):
            return None
        return row[column]

    def participant_for_token(self, token: str) -> str | None:
        return self._holder_of("participants", "participant_id", token)

    def questions(self, participant_id: str) -> list[sqlite3.Row]:
        """A participant's questions in order, each with the answer given so far (NULL if none)."""
        with self.read() as con:
            if con is None:
                return []
            return con.execute(
                "SELECT q.*, a.choice FROM questions q LEFT JOIN answers a "
                "ON a.participant_id = q.participant_id AND a.item_id = q.item_id "
                "WHERE q.participant_id = ? ORDER BY q.position", (participant_id,)).fetchall()

    def record_answer(self, participant_id: str, item_id: str, choice: str, media_played_s: float | None,
                      min_play_s: float | None = None, play_check: str = "refuse") -> tuple[bool, str, int]:
        """Store an answer once. Returns (recorded, the stored choice, questions still open); a repeat of an
        answered question changes nothing. With `min_play_s` (the clip's duration share), an answer that played
        less is refused (422) or, with `play_check="flag"`, stored with `played_enough = 0`."""
        refused = None
        with self.write() as con:
            q = con.execute("SELECT * FROM questions WHERE participant_id = ? AND item_id = ?",
                            (participant_id, item_id)).fetchone()
            if q is None:
                raise StoreError(404, "no such question for this participant")
            previous = con.execute("SELECT choice FROM answers WHERE participant_id = ? AND item_id = ?",
                                   (participant_id, item_id)).fetchone()
            if previous is not None:
                recorded, stored = False, previous["choice"]
            else:
                sources = {q["option_a"]: q["source_a"], q["option_b"]: q["source_b"]}
                if choice not in sources:
                    raise StoreError(422, f"choice must be one of the question's options: {list(sources)}")
                enough = None
                if min_play_s is not None:
                    # The page rounds to milliseconds; compare at that precision.
                    enough = int(round(media_played_s or 0.0, 3) >= round(min_play_s, 3))
                if enough == 0 and play_check == "refuse":
                    # Kept (for study_report to count), but no answer: the transaction commits the refusal only.
                    con.execute("INSERT INTO play_refusals VALUES (?, ?, ?, ?, ?)",
                                (participant_id, item_id, media_played_s, min_play_s, utc_now()))
                    refused = (f"media_played_s: the clip played {media_played_s or 0:g} s, at least "
                               f"{min_play_s:.3f} s are needed before answering; play it to the end")
                else:
                    now = utc_now()
                    con.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (participant_id, item_id, choice, sources[choice], now, media_played_s, enough))
                    con.execute("UPDATE participants SET last_active_at = ? WHERE participant_id = ?",
                                (now, participant_id))
                recorded, stored = refused is None, choice
            remaining = con.execute(
                "SELECT COUNT(*) FROM questions q WHERE q.participant_id = ? AND NOT EXISTS (SELECT 1 FROM answers a "
                "WHERE a.participant_id = q.participant_id AND a.item_id = q.item_id)", (participant_id,)).fetchone()[0]
            if recorded and remaining == 0:
                con.execute("UPDATE participants SET completed_at = ? WHERE participant_id = ?",
                            (utc_now(), participant_id))
        if refused is not None:
            raise StoreError(422, refused)
        return recorded, stored, remaining

    # --- reviewers ----------------------------------------------------------------------------------------
    def add_reviewer(self, name: str) -> str:
        """A new reviewer (or a new token for an existing one, revoking the old); returns the token once."""
        token = secrets.token_urlsafe(32)
        with self.write() as con:
            con.execute("INSERT INTO reviewers VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                        "token_sha256 = excluded.token_sha256", (name, token_digest(token), utc_now()))
        return token

    def reviewer_for_token(self, token: str) -> str | None:
        return self._holder_of("reviewers", "name", token)

    def record_decision(self, reviewer: str, item: Item, final_label: str, label_source: str, note: str) -> dict:
        with self.write() as con:
            now = utc_now()
            cur = con.execute(
                "INSERT INTO decisions (item_id, split, dialogue_id, utterance_id, meld_label, llm_label, text, "
                "final_label, label_source, note, reviewer, reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item.item_id, item.split, item.dialogue_id, item.utterance_id, item.meld_label, item.melt_label,
                 item.text, final_label, label_source, note, reviewer, now))
            return dict(con.execute("SELECT * FROM decisions WHERE decision_id = ?", (cur.lastrowid,)).fetchone())

    # --- tables for exports and reports -------------------------------------------------------------------
    def _table(self, sql: str) -> list[dict]:
        with self.read() as con:
            return [] if con is None else [dict(r) for r in con.execute(sql)]

    def answers(self) -> list[dict]:
        """Every answer with its question's snapshot and the participant's demographics, in a stable order."""
        return self._table(
            "SELECT a.participant_id, q.position, a.item_id, q.kind, q.split, q.dialogue_id, q.utterance_id, "
            "q.meld_label, q.melt_label, q.text, q.option_a, q.source_a, q.option_b, q.source_b, a.choice, a.chosen_source, "
            "a.answered_at, a.media_played_s, a.played_enough FROM answers a JOIN questions q "
            "ON q.participant_id = a.participant_id AND q.item_id = a.item_id "
            "ORDER BY a.participant_id, q.position")

    def play_refusals(self) -> list[dict]:
        return self._table("SELECT participant_id, item_id, media_played_s, min_play_s, refused_at FROM play_refusals "
                           "ORDER BY participant_id, refused_at, item_id")

    def participants(self) -> list[dict]:
        return self._table(
            "SELECT p.participant_id, p.created_at, p.completed_at, p.gender, p.age_range, p.native_english, "
            "p.headphones, (SELECT COUNT(*) FROM questions q WHERE q.participant_id = p.participant_id) AS questions, "
            "(SELECT COUNT(*) FROM answers a WHERE a.participant_id = p.participant_id) AS answers "
            "FROM participants p ORDER BY p.participant_id")

    def decisions(self) -> list[dict]:
        """Every review decision, oldest first (a later decision on the same item supersedes an earlier one)."""
        return self._table("SELECT * FROM decisions ORDER BY decision_id")

    def latest_decisions(self) -> dict[str, dict]:
        return {d["item_id"]: d for d in self.decisions()}

    def counts(self) -> dict[str, int]:
        with self.read() as con:
            if con is None:
                return {"participants": 0, "answers": 0, "decisions": 0}
            return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in ("participants", "answers", "decisions")}
