"""A loopback OpenAI-compatible server for tests and benchmarks: real HTTP on 127.0.0.1 (uvicorn in a thread).

Chat completions answer in the MELT JSON structure (the context names the request's seed, so a
test can tell whose answer a store holds). Faults are injected by probability (seeded) or by a
script applied to the next requests in order: 429 (+ Retry-After or retry-after-ms), 408, 409, 500,
`500-noretry` / `400-retry` (with `x-should-retry: false` / `true`), timeout (the answer comes after
the client gave up), `hang` (never answered), `slow` (`slow_factor` × the latency), malformed JSON,
out-of-set label, and 400/401/404; `dead` answers every request 503 at once (a server that is down). An
optional token bucket of one second enforces an RPM limit (`rpm`, or `rps` per second) with 429s, like a
real provider; `ratelimit_headers` adds OpenAI's `x-ratelimit-limit/remaining/reset-requests` headers
(per minute, the bucket's state) to every answer and 429.
A line saying "answer <Word>" is obeyed (a prompt-injectable model). An `input_audio` part (issue 15) is
decoded (base64 → WAV/MP3; anything but 16 kHz mono 16-bit is refused with a 400) and answered from the sound:
RMS level above LOUD_DBFS → Anger, else Sadness; `audio_log` records each such request's parts, bytes and level.
Batch API subset: files
upload/content, batches create/list/retrieve. Every request is counted; nothing is written to disk.

What tests observe on the server side, in its own clock and order: the arrival of every chat
request (`arrivals`), the most requests in flight at once (`max_inflight`), and the pause each 429
announced (`pauses`: from the moment the 429 left to the end of its Retry-After). `hold_429_inflight`
holds an injected 429 until that many requests are in flight, so the others are surely on the wire
when the client learns of the pause. `hold_seed` / `hold_after` answer only the first `hold_after`
requests with that seed and keep the rest waiting (never answered), for kill tests.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import hashlib
import io
import json
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loopback import serve_in_thread

LABELS = ["Anger", "Disgust", "Sadness", "Joy", "Neutral", "Surprise", "Fear"]
_LINE = re.compile(r"^(?P<speaker>.+?) at s\d+e\d+ said: (?P<utterance>.*)$", re.S)
_INJECTED = re.compile(r"answer (?P<label>[A-Za-z]+)", re.I)


@dataclass
class Faults:
    latency_s: float = 0.0
    p429: float = 0.0
    p500: float = 0.0
    p_malformed: float = 0.0
    p_out_of_set: float = 0.0
    p_timeout: float = 0.0
    retry_after: str = "s"          # header on injected 429s: "s" (Retry-After), "ms" (retry-after-ms), "none"
    retry_after_value: float = 1.0  # seconds
    timeout_sleep_s: float = 3.0
    rpm: float | None = None        # token bucket of one second: capacity rpm/60, refilled continuously
    script: list[str] = field(default_factory=list)   # next requests' faults in order ("ok" for none)
    seed: int = 0
    batch_delay_s: float = 0.0      # a batch stays in_progress this long
    hold_429_inflight: int = 0      # an injected 429 waits until this many requests are in flight
    hold_seed: int | None = None    # requests with this seed beyond `hold_after` answers are never answered
    hold_after: int = 0
    p_hang: float = 0.0             # never answered (until the server stops or is reset)
    p_slow: float = 0.0             # answered after slow_factor × latency_s
    slow_factor: float = 10.0
    dead: bool = False              # every request: 503 at once
    rps: float | None = None        # the RPM bucket given per second (rpm = 60 × rps)
    ratelimit_headers: bool = False

    def __post_init__(self):
        if self.rps is not None:
            self.rpm = 60 * self.rps


def content_key(body: dict) -> str:
    """What the server calls the same request: messages + seed (repeats of one request share it)."""
    material = json.dumps({"m": body.get("messages"), "seed": body.get("seed")}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


# ---- audio (issue 15): what an audio LLM receives, decoded and checked; an answer from the sound itself ------------
LOUD_DBFS = -25.7        # RMS level of the clip sent: above → Anger, else Sadness (demo clips fall on both sides)
AUDIO_RATE = 16_000


class AudioRejected(ValueError):
    """An input_audio part that is not what the product promises to send (16 kHz mono, 16-bit WAV or MP3)."""


def content_text(content) -> str:
    return content if isinstance(content, str) else "\n".join(p["text"] for p in content if p.get("type") == "text")


def audio_parts(body: dict) -> list[dict]:
    content = body["messages"][-1]["content"]
    return [] if isinstance(content, str) else [p for p in content if p.get("type") == "input_audio"]


def decode_audio(part: dict) -> np.ndarray:
    """base64 → WAV (or MP3) → float samples; refuses anything but 16 kHz mono (16-bit PCM for WAV)."""
    audio = part["input_audio"]
    if "data" not in audio or audio.get("format") not in ("wav", "mp3"):
        raise AudioRejected(f"input_audio needs base64 `data` and format wav|mp3, got keys {sorted(audio)}")
    raw = base64.b64decode(audio["data"], validate=True)
    info = sf.info(io.BytesIO(raw))
    expected = "PCM_16" if audio["format"] == "wav" else "MPEG_LAYER_III"
    if info.samplerate != AUDIO_RATE or info.channels != 1 or info.subtype != expected:
        raise AudioRejected(f"audio must be {AUDIO_RATE} Hz mono {expected}, got {info.samplerate} Hz, "
                            f"{info.channels} channel(s), {info.subtype}")
    samples, _ = sf.read(io.BytesIO(raw), dtype="float64")
    return samples


def rms_dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples))) + 1e-12))


def audio_label(samples: np.ndarray) -> str:
    return "Anger" if rms_dbfs(samples) > LOUD_DBFS else "Sadness"


class LLMServer:
    def __init__(self, faults: Faults | None = None):
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.lock = threading.Lock()
        self.chat_requests = 0                  # every POST /chat/completions
        self.outcomes: Counter = Counter()      # ok / 429 / 500 / timeout / malformed / out_of_set / ...
        self.seen: Counter = Counter()          # content_key → requests
        self.answered: Counter = Counter()      # content_key → 200 answers sent
        self.authorizations: set[str] = set()
        self.audio_log: list[dict] = []         # per chat request with audio: parts, bytes, level (issue 15)
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, dict] = {}
        self.batches_created = 0
        self._init_observations()
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
            Route("/v1/batches", self.create_batch, methods=["POST"]),
            Route("/v1/batches", self.list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.retrieve_batch, methods=["GET"]),
            Route("/_config", self.configure, methods=["POST"]),   # for a server in another process
            Route("/_stats", self.stats, methods=["GET"]),
            Route("/_arrivals", self.arrivals_log, methods=["GET"]),
        ])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "LLMServer":
        self._server, self._thread, self.port = serve_in_thread(
            self.app, log_level="error", lifespan="off", timeout_keep_alive=30, backlog=2048)
        self._tokens = (self.faults.rpm or 0) / 60
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.released.set()
        if self._server:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _init_observations(self) -> None:
        self.inflight = 0
        self.max_inflight = 0
        self.arrivals: list[tuple[float, str, object]] = []   # (server monotonic time, content key, seed)
        self.pauses: list[tuple[float, float]] = []           # (429 sent, end of its announced wait)
        self.by_seed: Counter = Counter()                     # chat requests per body seed
        self.answered_by_seed: Counter = Counter()
        self.released = threading.Event()                     # set at stop(): held requests give up
        self._answer_times: list[float] = []

    def arrivals_during_pauses(self) -> int:
        """Chat requests that arrived while a 429's announced wait was running (server clock)."""
        with self.lock:
            return sum(1 for t, _, _ in self.arrivals for start, end in self.pauses if start < t < end)

    def answered_during_pauses(self) -> int:
        """Answers the server sent during a 429's wait: tasks that were free to send again."""
        with self.lock:
            return sum(1 for t in self._answer_times for start, end in self.pauses if start < t < end)

    # ---- behaviour ---------------------------------------------------------------------------
    def _take_token(self) -> tuple[float, dict]:
        """(0 if a request may pass the RPM bucket, else seconds until a token is available; the ratelimit
        headers of the bucket's state, if the server sends them)."""
        rpm = self.faults.rpm
        if not rpm:
            return 0.0, {}
        rate = rpm / 60
        with self.lock:
            now = time.monotonic()
            self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            wait = 0.0
            if self._tokens >= 1:
                self._tokens -= 1
            else:
                wait = (1 - self._tokens) / rate
            headers = {} if not self.faults.ratelimit_headers else {
                "x-ratelimit-limit-requests": str(int(rpm)), "x-ratelimit-remaining-requests": str(int(self._tokens)),
                "x-ratelimit-reset-requests": f"{math.ceil((rate - self._tokens) / rate * 1000)}ms"}
            return wait, headers

    def _pick_fault(self) -> str:
        f = self.faults
        with self.lock:
            if f.script:
                return f.script.pop(0)
            r = self.rng.random()
        for name, p in (("429", f.p429), ("500", f.p500), ("malformed", f.p_malformed),
                        ("timeout", f.p_timeout), ("out_of_set", f.p_out_of_set), ("hang", f.p_hang),
                        ("slow", f.p_slow)):
            if r < p:
                return name
            r -= p
        return "ok"

    @staticmethod
    def answer_for(body: dict, fault: str) -> str:
        text = content_text(body["messages"][-1]["content"])
        m = _LINE.match(text.rsplit("\n", 1)[-1])
        speaker, utterance = (m["speaker"], m["utterance"]) if m else ("Unknown", text[-200:])
        injected = _INJECTED.search(utterance)
        parts = audio_parts(body)
        if fault == "out_of_set":
            label = "Frustration"
        elif parts:   # an audio model: the answer comes from the sound, whatever the text says
            label = audio_label(decode_audio(parts[0]))
        elif injected:
            label = injected["label"].capitalize()   # this model obeys injections: the engine must not
        else:
            digest = hashlib.sha256(f"{utterance}|{body.get('seed')}".encode()).digest()
            label = LABELS[digest[0] % len(LABELS)]
        answer = {"character": speaker, "context": f"{speaker} talks to a friend (seed {body.get('seed')}).",
                  "elements": {"emotion": label, "loudness": "loud", "pitch": "high-pitched",
                               "rhythm_speed": "fast", "emotional_impact": "lively"}}
        raw = json.dumps(answer)
        return raw[: len(raw) // 2] if fault == "malformed" else raw

    def completion(self, body: dict, fault: str = "ok") -> dict:
        raw = self.answer_for(body, fault)
        prompt_tokens = sum(len(content_text(m["content"])) for m in body["messages"]) // 4
        return {"id": f"chatcmpl-{self.rng.getrandbits(48):x}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "unknown"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": raw}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(raw) // 4,
                          "total_tokens": prompt_tokens + len(raw) // 4}}

    @staticmethod
    def _error(status: int, message: str, headers: dict | None = None, code: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "test_error", "code": code}}, status_code=status,
                            headers=headers)

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        key = content_key(body)
        with self.lock:
            self.chat_requests += 1
            self.seen[key] += 1
            self.by_seed[body.get("seed")] += 1
            self.arrivals.append((time.monotonic(), key, body.get("seed")))
            self.authorizations.add(request.headers.get("authorization", ""))
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            return await self._chat(body, key)
        finally:
            with self.lock:
                self.inflight -= 1

    async def _hold(self) -> None:
        released = self.released   # reset() swaps in a new event after setting this one
        while not released.is_set():
            await asyncio.sleep(0.05)

    async def _chat(self, body: dict, key: str) -> Response:
        if audio_parts(body):
            try:
                self._log_audio(body, key)
            except AudioRejected as err:
                return self._error(400, f"invalid audio: {err}")
        f = self.faults
        if f.hold_seed is not None and body.get("seed") == f.hold_seed:
            with self.lock:
                held = self.answered_by_seed[f.hold_seed] >= f.hold_after
                if not held:
                    self.answered_by_seed[f.hold_seed] += 1   # reserved: this one will be answered
            if held:
                await self._hold()
                return self._error(503, "held by the test server")
        if f.dead:
            self._count("dead")
            return self._error(503, "Service unavailable (dead endpoint)")
        wait, limit_headers = self._take_token()
        if wait:
            self._count("rate_limited")
            return self._error(429, "Rate limit reached (rpm)", code="rate_limit_exceeded",
                               headers={"retry-after-ms": str(math.ceil(wait * 1000)), "retry-after": str(math.ceil(wait)),
                                        **limit_headers})
        fault = self._pick_fault()
        self._count(fault)
        if fault == "hang":
            await self._hold()
            return self._error(503, "held by the test server")
        if fault == "429":
            headers = {"s": {"retry-after": str(math.ceil(f.retry_after_value))},
                       "ms": {"retry-after-ms": str(int(f.retry_after_value * 1000))}, "none": {}}[f.retry_after]
            while f.hold_429_inflight and self.inflight < f.hold_429_inflight and not self.released.is_set():
                await asyncio.sleep(0.005)
            with self.lock:
                now = time.monotonic()
                self.pauses.append((now, now + (f.retry_after_value if f.retry_after != "none" else 0.0)))
            return self._error(429, "Rate limit reached (injected)", headers=headers, code="rate_limit_exceeded")
        if fault in ("400", "401", "404", "408", "409", "400-retry"):
            msgs = {"400": "Invalid parameter", "401": "Incorrect API key provided", "404": "The model does not exist",
                    "408": "Request timeout", "409": "Lock timeout", "400-retry": "Invalid parameter (retry me)"}
            headers = {"x-should-retry": "true"} if fault == "400-retry" else None
            return self._error(int(fault[:3]), msgs[fault], headers=headers)
        await asyncio.sleep({"timeout": f.timeout_sleep_s, "slow": f.slow_factor * f.latency_s}.get(fault, f.latency_s))
        if fault in ("500", "500-noretry"):
            headers = {"x-should-retry": "false"} if fault == "500-noretry" else None
            return self._error(500, "The server had an error", headers=headers)
        with self.lock:
            self.answered[key] += 1
            self._answer_times.append(time.monotonic())
        return JSONResponse(self.completion(body, fault), headers=limit_headers)

    def _log_audio(self, body: dict, key: str) -> None:
        parts = audio_parts(body)
        samples = decode_audio(parts[0])
        kinds = [p.get("type") for p in body["messages"][-1]["content"]]
        with self.lock:
            self.audio_log.append({"key": key, "seed": body.get("seed"), "parts": kinds,
                                   "text": content_text(body["messages"][-1]["content"]),
                                   "bytes": sum(len(p["input_audio"]["data"]) for p in parts),
                                   "seconds": len(samples) / AUDIO_RATE, "rms_dbfs": rms_dbfs(samples)})

    def _count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def reset(self, faults: Faults) -> None:
        with self.lock:
            self.faults, self.rng = faults, random.Random(faults.seed)
            self.chat_requests = 0
            self.outcomes, self.seen, self.answered = Counter(), Counter(), Counter()
            self.audio_log = []
            self.released.set()   # requests held under the old faults give up
            self._init_observations()
            self._tokens, self._refilled = (faults.rpm or 0) / 60, time.monotonic()

    async def configure(self, request: Request) -> Response:
        self.reset(Faults(**(await request.json())))
        return JSONResponse({"ok": True})

    async def arrivals_log(self, request: Request) -> Response:
        """Every chat request's arrival: [server monotonic seconds, seed], in arrival order."""
        with self.lock:
            return JSONResponse([[t, seed] for t, _, seed in self.arrivals])

    async def stats(self, request: Request) -> Response:
        with self.lock:
            return JSONResponse({"chat_requests": self.chat_requests, "outcomes": dict(self.outcomes),
                                 "unique": len(self.seen), "repeats": sum(c - 1 for c in self.seen.values()),
                                 "answered": sum(self.answered.values()), "max_inflight": self.max_inflight,
                                 "audio_requests": len(self.audio_log),
                                 "audio_bytes": sum(a["bytes"] for a in self.audio_log)})

    # ---- Batch API subset ----------------------------------------------------------------------
    def _file_object(self, file_id: str, purpose: str) -> dict:
        name, data = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}

    async def upload(self, request: Request) -> Response:
        raw = await request.body()
        header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
        fields = {part.get_param("name", header="content-disposition"): part for part in msg.iter_parts()}
        part = fields["file"]
        file_id = f"file-{len(self.files) + 1:06d}"
        self.files[file_id] = (part.get_filename() or "upload.jsonl", part.get_payload(decode=True))
        purpose = fields["purpose"].get_payload(decode=True).decode() if "purpose" in fields else "batch"
        return JSONResponse(self._file_object(file_id, purpose))

    async def file_content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if file_id not in self.files:
            return self._error(404, f"No such file {file_id}")
        return Response(self.files[file_id][1], media_type="application/octet-stream")

    async def create_batch(self, request: Request) -> Response:
        body = await request.json()
        if body["input_file_id"] not in self.files:
            return self._error(400, f"unknown input_file_id {body['input_file_id']}")
        with self.lock:
            self.batches_created += 1
            batch_id = f"batch_{self.batches_created:06d}"
        lines = [json.loads(line) for line in self.files[body["input_file_id"]][1].decode().splitlines() if line.strip()]
        batch = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
                 "completion_window": body.get("completion_window", "24h"), "status": "in_progress",
                 "created_at": int(time.time()), "metadata": body.get("metadata"),
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
        self.batches[batch_id] = batch
        asyncio.get_running_loop().create_task(self._run_batch(batch, lines))
        return JSONResponse(batch)

    async def _run_batch(self, batch: dict, lines: list[dict]) -> None:
        await asyncio.sleep(self.faults.batch_delay_s)
        out = []
        for item in lines:
            fault = self._pick_fault()
            self._count(f"batch_{fault}")
            key = content_key(item["body"])
            with self.lock:
                self.seen[key] += 1
            if fault in ("500", "429", "timeout"):
                out.append({"id": f"req_{len(out)}", "custom_id": item["custom_id"], "response": None,
                            "error": {"code": "server_error", "message": "injected failure"}})
                batch["request_counts"]["failed"] += 1
            else:
                with self.lock:
                    self.answered[key] += 1
                out.append({"id": f"req_{len(out)}", "custom_id": item["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": f"r{len(out)}",
                                         "body": self.completion(item["body"], fault)}})
                batch["request_counts"]["completed"] += 1
        file_id = f"file-{len(self.files) + 1:06d}"
        self.files[file_id] = ("output.jsonl", "".join(json.dumps(o) + "\n" for o in out).encode())
        batch.update(status="completed", output_file_id=file_id, completed_at=int(time.time()))

    async def list_batches(self, request: Request) -> Response:
        newest_first = sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)
        return JSONResponse({"object": "list", "data": newest_first, "has_more": False,
                             "first_id": newest_first[0]["id"] if newest_first else None,
                             "last_id": newest_first[-1]["id"] if newest_first else None})

    async def retrieve_batch(self, request: Request) -> Response:
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return self._error(404, "No such batch")
        return JSONResponse(batch)


if __name__ == "__main__":   # python tests/llm_server.py ['{"latency_s": 0.2}'] → prints the base_url, serves until killed
    import sys
    srv = LLMServer(Faults(**json.loads(sys.argv[1])) if len(sys.argv) > 1 else None).start()
    print(srv.base_url, flush=True)
    threading.Event().wait()
