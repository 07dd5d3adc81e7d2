"""The study's public ids of utterances and its signed media URLs, both keyed by a secret of the database.

The secret is generated when a database is created and lives only in it (git-ignored `study/`): the study set
(`data/study`, a DVC output) holds utterance keys, never ids, so a public id can be computed only by the app
that holds the database. Without the secret, an id reveals neither the utterance nor its labels, and a media
URL cannot be forged or extended past its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ID_HEX = 16          # 64 bits: unguessable, short enough for URLs


def new_secret() -> str:
    return secrets.token_hex(32)


def _mac(secret: str, purpose: str, message: str) -> str:
    # One secret, separate purposes: an item id is never a valid media signature and vice versa.
    return hmac.new(bytes.fromhex(secret), f"{purpose}\0{message}".encode(), hashlib.sha256).hexdigest()


def utterance_key(split: str, dialogue_id: int, utterance_id: int) -> str:
    return f"{split}/{int(dialogue_id)}/{int(utterance_id)}"


def item_id(secret: str, split: str, dialogue_id: int, utterance_id: int) -> str:
    """Opaque, stable id of an utterance for the database holding `secret` (HMAC-SHA256, first 64 bits)."""
    return _mac(secret, "item", utterance_key(split, dialogue_id, utterance_id))[:ID_HEX]


def media_signature(secret: str, item: str, kind: str, expires: int) -> str:
    return _mac(secret, "media", f"{item}/{kind}/{int(expires)}")


def signed_media_url(secret: str, item: str, kind: str, now: float, ttl_s: int) -> str:
    """`/media/{item}/{kind}?expires=…&sig=…`, valid for `ttl_s` seconds from `now` (an <audio> element cannot
    send the bearer token, so the page gets URLs that carry their own short-lived permission)."""
    expires = int(now) + int(ttl_s)
    return f"/media/{item}/{kind}?expires={expires}&sig={media_signature(secret, item, kind, expires)}"


def media_signature_ok(secret: str, item: str, kind: str, expires: int, sig: str, now: float) -> bool:
    """The signature matches (constant-time) and has not expired."""
    good = hmac.compare_digest(media_signature(secret, item, kind, expires), sig or "")
    return good and now <= int(expires)
