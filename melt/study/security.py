"""Request limits, response headers, bearer tokens and per-client rate limits of the study app."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

from aiolimiter import AsyncLimiter
from fastapi import HTTPException, Request

MAX_BODY_BYTES = 16 * 1024
SECURITY_HEADERS = [
    # No inline script or style anywhere: an injected <script> in a note could not run even if it were
    # rendered as HTML.
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; media-src 'self'; "
                                 b"img-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                                 b"form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class Guard:
    """ASGI middleware: refuses request bodies over `max_body` bytes with 413 before the app reads them (by
    Content-Length, and by counting a chunked body), and adds the security headers to every response."""

    def __init__(self, app, max_body: int = MAX_BODY_BYTES):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names]
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await self._too_large(send_with_headers)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_body:
                    return await self._too_large(send_with_headers)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self.app(scope, replay, send_with_headers)
        return await self.app(scope, receive, send_with_headers)

    async def _too_large(self, send):
        payload = json.dumps({"detail": f"request body larger than {self.max_body} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def bearer_token(request: Request) -> str:
    """The request's `Authorization: Bearer <token>`; 401 when there is none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token


class PerClientLimit:
    """A leaky bucket per client address (`per_minute` at once, then one every 60/`per_minute` s). Used from the
    event loop only (an async dependency), so checking and taking capacity cannot interleave. The least recently
    seen addresses are forgotten beyond `max_clients`, so many addresses cannot grow memory without bound."""

    def __init__(self, per_minute: int, max_clients: int = 10_000):
        self.per_minute, self.max_clients = per_minute, max_clients
        self.buckets: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self.retry_after_s = math.ceil(60 / per_minute)

    async def take(self, client: str) -> bool:
        """One unit of `client`'s bucket if it has one (True), else False; never waits."""
        bucket = self.buckets.pop(client, None) or AsyncLimiter(self.per_minute, 60)
        self.buckets[client] = bucket
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        if not bucket.has_capacity():
            return False
        await bucket.acquire()   # returns at once: capacity was just checked, nothing ran in between
        return True
