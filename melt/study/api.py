"""The JSON API of the study app: participants and answers, review queue and decisions, exports, media.

Participants authenticate with the token they get at consent; reviewers (and exports) with a token made by
`melt-study reviewer add NAME`. Media need one of those tokens, or a short-lived URL signed with the database's
secret (what the pages use: an <audio> element cannot send a header). Bodies are strict (unknown fields, wrong
types and oversized strings are 422). Sign-ups are rate-limited per client address and capped in total.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from melt.study.catalog import MEDIA_TYPES, Catalog
from melt.study.exports import Format, answers_export, decisions_export
from melt.study.keys import media_signature_ok, signed_media_url
from melt.study.params import StudyParams
from melt.study.security import PerClientLimit, bearer_token
from melt.study.store import StoreError, StudyStore

ITEM_ID = r"^[0-9a-f]{16}$"
FREE_LABEL = re.compile(r"[a-z][a-z' -]{0,39}")
_DEFAULTS = StudyParams()


@dataclass(frozen=True)
class Settings:
    """What the app enforces (from the `study` params; `melt-study serve` flags override the question counts)."""
    questions_per_participant: int
    attention_per_participant: int
    participants_per_minute: int = _DEFAULTS.participants_per_minute
    max_participants: int = _DEFAULTS.max_participants
    assignment_timeout_min: float = _DEFAULTS.assignment_timeout_min
    min_play_share: float = _DEFAULTS.min_play_share
    play_check: Literal["refuse", "flag"] = _DEFAULTS.play_check
    media_url_ttl_s: int = _DEFAULTS.media_url_ttl_s

    @classmethod
    def from_params(cls, params: StudyParams, questions: int | None = None, attention: int | None = None):
        return cls(questions_per_participant=params.questions_per_participant if questions is None else questions,
                   attention_per_participant=params.attention_per_participant if attention is None else attention,
                   participants_per_minute=params.participants_per_minute, max_participants=params.max_participants,
                   assignment_timeout_min=params.assignment_timeout_min, min_play_share=params.min_play_share,
                   play_check=params.play_check, media_url_ttl_s=params.media_url_ttl_s)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ParticipantIn(Strict):
    consent: bool
    gender: Literal["female", "male", "non-binary", "other", "prefer-not-to-say"] | None = None
    age_range: Literal["18-24", "25-34", "35-44", "45-54", "55-64", "65+"] | None = None
    native_english: Literal["yes", "no"] | None = None
    headphones: Literal["yes", "no"] | None = None


class AnswerIn(Strict):
    participant_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    question_id: str = Field(pattern=ITEM_ID)
    choice: str = Field(min_length=1, max_length=64)
    media_played_s: float | None = Field(None, ge=0, le=86400)


class DecisionIn(Strict):
    item_id: str = Field(pattern=ITEM_ID)
    source: Literal["llm", "meld", "reviewer"]
    label: str | None = Field(None, max_length=40)
    note: str = Field("", max_length=2000)


def _panel(catalog: Catalog, row: dict) -> dict | None:
    """Each panel annotator's label with its input modality (text / audio / text+audio), when MELT has a panel."""
    if catalog.panel is None:
        return None
    agreement = row.get("panel_agreement", "")
    return {"aggregate": catalog.panel.get("aggregate"), "agreement": float(agreement) if agreement else None,
            "annotators": [{"name": name, "label": row.get(f"label_{name}", ""), **settings}
                           for name, settings in catalog.panel["annotators"].items()]}


def _export_response(payload, fmt: str, name: str) -> Response:
    if fmt == "csv":
        return Response(payload, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return JSONResponse(payload)


def build_router(store: StudyStore, catalog: Catalog, settings: Settings) -> APIRouter:
    router = APIRouter()
    secret = store.secret
    signups = PerClientLimit(settings.participants_per_minute)

    def media_url(item_id: str) -> tuple[str | None, str | None]:
        kind = catalog.preferred_media.get(item_id)
        if not kind:
            return None, None
        return signed_media_url(secret, item_id, kind, time.time(), settings.media_url_ttl_s), kind

    def question(row) -> dict:
        url, kind = media_url(row["item_id"])
        return {"question_id": row["item_id"], "position": row["position"], "media_url": url, "media_type": kind,
                "text": row["text"], "options": [row["option_a"], row["option_b"]], "answered": row["choice"]}

    async def signup_allowed(request: Request) -> None:
        # The client's address as uvicorn reports it (X-Forwarded-For only from a trusted proxy).
        client = request.client.host if request.client else "unknown"
        if not await signups.take(client):
            raise HTTPException(429, f"too many new participants from this address (at most "
                                     f"{settings.participants_per_minute} per minute); try again later",
                                headers={"Retry-After": str(signups.retry_after_s)})

    def participant(request: Request) -> str:
        pid = store.participant_for_token(bearer_token(request))
        if pid is None:
            raise HTTPException(401, "unknown participant token", headers={"WWW-Authenticate": "Bearer"})
        return pid

    def reviewer(request: Request) -> str:
        name = store.reviewer_for_token(bearer_token(request))
        if name is None:
            raise HTTPException(401, "unknown reviewer token", headers={"WWW-Authenticate": "Bearer"})
        return name

    @router.get("/api/status")
    def status() -> dict:
        return {"preference_items": len(catalog.preference), "attention_items": len(catalog.attention),
                "review_queue": len(catalog.queue),
                "questions_per_participant": min(settings.questions_per_participant, len(catalog.preference))
                + min(settings.attention_per_participant, len(catalog.attention))}

    @router.post("/api/participants", status_code=201, dependencies=[Depends(signup_allowed)])
    def create_participant(body: ParticipantIn) -> dict:
        if body.consent is not True:
            raise HTTPException(422, "consent is required to take part")
        demographics = body.model_dump(exclude={"consent"})
        pid, token = store.create_participant(demographics, catalog.preference, catalog.attention,
                                              settings.questions_per_participant, settings.attention_per_participant,
                                              settings.max_participants, settings.assignment_timeout_min)
        return {"participant_id": pid, "token": token, "questions": [question(q) for q in store.questions(pid)]}

    @router.get("/api/participants/me")
    def me(pid: str = Depends(participant)) -> dict:
        questions = [question(q) for q in store.questions(pid)]
        answered = sum(q["answered"] is not None for q in questions)
        return {"participant_id": pid, "questions": questions, "answered": answered,
                "remaining": len(questions) - answered, "completed": answered == len(questions)}

    @router.post("/api/answers")
    def answer(body: AnswerIn, pid: str = Depends(participant)) -> JSONResponse:
        if body.participant_id != pid:
            raise HTTPException(403, "this token belongs to another participant")
        duration = catalog.durations.get(body.question_id)
        recorded, stored, remaining = store.record_answer(
            pid, body.question_id, body.choice, body.media_played_s,
            None if duration is None else duration * settings.min_play_share, settings.play_check)
        if recorded:
            return JSONResponse({"status": "recorded", "recorded": True, "choice": stored, "remaining": remaining},
                                status_code=201)
        return JSONResponse({"status": "already_answered", "recorded": False, "choice": stored,
                             "remaining": remaining,
                             "detail": "this question was already answered; the first answer is kept"})

    @router.get("/media/{item_id}/{kind}")
    def media(request: Request, item_id: str, kind: str, expires: int | None = None,
              sig: str | None = Query(None, max_length=64)) -> FileResponse:
        if expires is not None or sig is not None:
            if expires is None or sig is None or not media_signature_ok(secret, item_id, kind, expires, sig,
                                                                        time.time()):
                raise HTTPException(403, "media URL expired or not signed by this study; reload the page")
        else:
            token = bearer_token(request)
            if store.reviewer_for_token(token) is None:
                pid = store.participant_for_token(token)
                if pid is None:
                    raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
                if item_id not in {q["item_id"] for q in store.questions(pid)}:
                    raise HTTPException(403, "not one of this participant's questions")
        path = catalog.media_file(item_id, kind)
        if path is None:
            raise HTTPException(404, "no such media in the study set")
        return FileResponse(path, media_type=MEDIA_TYPES[kind])

    @router.get("/api/review/me")
    def review_me(name: str = Depends(reviewer)) -> dict:
        return {"reviewer": name}

    @router.get("/api/review/queue")
    def review_queue(status: Literal["all", "open", "decided"] = "all", offset: int = Query(0, ge=0),
                     limit: int = Query(50, ge=1, le=500), after: int = Query(0, ge=0),
                     name: str = Depends(reviewer)) -> dict:
        latest = store.latest_decisions()
        rows = [r for r in catalog.queue
                if status == "all" or (status == "decided") == (r["item_id"] in latest)]
        # `after` (a queue rank) pages by position in the queue: stable while decisions move items between filters.
        later = [r for r in rows if int(r["queue_rank"]) > after]
        page = later[offset:offset + limit]
        items = []
        for r in page:
            url, kind = media_url(r["item_id"])
            try:
                votes = json.loads(r["llm_votes"]) if r["llm_votes"] else {}
            except json.JSONDecodeError:
                votes = {}
            items.append({
                "item_id": r["item_id"], "queue_rank": int(r["queue_rank"]), "split": r["split"],
                "dialogue_id": int(r["dialogue_id"]), "utterance_id": int(r["utterance_id"]),
                "speaker": r["Speaker"], "text": r["Utterance"], "media_url": url, "media_type": kind,
                "context": [{"turn": t["turn"], "speaker": t["speaker"], "text": t["text"],
                             **dict(zip(("media_url", "media_type"), media_url(t["item_id"])))}
                            for t in catalog.context.get(r["item_id"], [])],
                "panel": _panel(catalog, r),
                "suggestions": [
                    {"source": "meld", "agent": "MELD annotators", "label": r["meld_label"], "score": None},
                    {"source": "llm", "agent": "MELT LLM" if catalog.panel is None else "MELT panel",
                     "label": r["llm_label"],
                     "score": float(r["llm_confidence"]) if r["llm_confidence"] else None, "votes": votes,
                     "voice": {k: r[k] for k in ("loudness", "pitch", "rhythm_speed", "emotional_impact")}},
                ],
                "decision": latest.get(r["item_id"]),
            })
        return {"total": len(catalog.queue), "decided": sum(r["item_id"] in latest for r in catalog.queue),
                "matching": len(rows), "offset": offset, "after": after,
                "more": len(later) > offset + limit, "items": items}

    @router.post("/api/review/decisions", status_code=201)
    def decide(body: DecisionIn, name: str = Depends(reviewer)) -> dict:
        item = catalog.queue_items.get(body.item_id)
        if item is None:
            raise HTTPException(404, "no such item in the review queue")
        source, final = body.source, {"llm": item.melt_label, "meld": item.meld_label}.get(body.source, "")
        if source == "reviewer":
            final = (body.label or "").strip().lower()
            if not FREE_LABEL.fullmatch(final):
                raise HTTPException(422, "label: 1–40 lower-case letters, spaces, hyphens or apostrophes")
            # A free label equal to a suggestion is that suggestion.
            source = "llm" if final == item.melt_label else "meld" if final == item.meld_label else "reviewer"
        elif body.label is not None:
            raise HTTPException(422, "label is only given with source 'reviewer'")
        return store.record_decision(name, item, final, source, body.note)

    @router.get("/api/export")
    def export_answers(format: Format = "json", name: str = Depends(reviewer)) -> Response:
        return _export_response(answers_export(store, format), format, "melt-study-answers")

    @router.get("/api/review/export")
    def export_decisions(format: Format = "json", name: str = Depends(reviewer)) -> Response:
        return _export_response(decisions_export(store, format), format, "melt-study-decisions")

    return router


def store_error_handler(request: Request, exc: StoreError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)
