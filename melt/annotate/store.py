"""The answer store: one append-only, content-addressed store of LLM answers per repository.

256 shards `<kk>.jsonl` by key prefix; one record per line,
``<key: 64 hex>\\t<crc32 of payload, 8 hex>\\t<payload JSON>\\n``. It knows nothing of prompts: a key
is any sha256 hex digest, a payload any JSON object.

Concurrency (the workspace and every `dvc exp run --queue/--temp` share one store): a record is
written by one ``os.write`` on an O_APPEND descriptor under an exclusive ``flock`` of its shard,
and readers index a shard under a shared ``flock``, so no process ever reads half a record. Reads
are canonical: the first record of a key in file order wins everywhere. Before appending, a writer
reads (under its lock) what others appended since it last looked; if the key is there now, it
appends nothing and returns that record. A kill -9 mid-write leaves an unterminated last line; the
next writer terminates it, it fails its checksum and is ignored (counted in `torn_records`).

Power loss: an append is in the page cache until an fsync. The engine acknowledges an answer (counts it,
reports it in the progress) only once an fsync covers it (`GroupCommit`: one fsync of the shards written
for every `fsync_every` answers or `fsync_ms` after the first waiting one, off the event loop); `close()`
fsyncs what is left.

The store is never a DVC output and never written through a link: a shard that is a symlink or
has other hard links (DVC's cache.type symlink/hardlink checkouts) is refused with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import zlib
from pathlib import Path
from typing import Iterator

_KEY = re.compile(rb"^[0-9a-f]{64}$")
PAYLOAD_OFFSET = 64 + 1 + 8 + 1   # key, tab, crc, tab


class StoreError(RuntimeError):
    """The store cannot be used safely (e.g. a shard is a link into DVC's cache)."""


def shard_name(key: str) -> str:
    return f"{key[:2]}.jsonl"


def encode_payload(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_line(key: str, payload: bytes) -> bytes:
    return key.encode("ascii") + b"\t" + f"{zlib.crc32(payload):08x}".encode() + b"\t" + payload + b"\n"


def parse_line(line: bytes) -> tuple[str, bytes] | None:
    """(key, payload) of a complete, intact line, else None."""
    if not line.endswith(b"\n"):
        return None
    parts = line[:-1].split(b"\t", 2)
    if len(parts) != 3 or not _KEY.match(parts[0]) or len(parts[1]) != 8:
        return None
    key, crc, payload = parts
    try:
        if int(crc, 16) != zlib.crc32(payload):
            return None
    except ValueError:
        return None
    return key.decode("ascii"), payload


def iter_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of every complete line of `data`; an unterminated tail is not yielded."""
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return
        yield start, data[start:end + 1]
        start = end + 1


class _Shard:
    __slots__ = ("index", "scanned", "fd", "writable")

    def __init__(self):
        self.index: dict[str, tuple[int, int]] = {}   # key → (payload offset, payload length)
        self.scanned = 0                                # bytes indexed (always at a line boundary)
        self.fd: int | None = None
        self.writable = False


class AnswerStore:
    """Shards are indexed lazily on first use; payloads are read on demand with pread."""

    def __init__(self, root: str | Path, durability=None):
        self.root = Path(root)   # created by the first append
        self.durability = durability   # StoreDurability: how the engine's GroupCommit acknowledges answers
        self._shards: dict[str, _Shard] = {}
        self.torn_records = 0
        self._dirty: set[int] = set()   # descriptors appended to since the last fsync

    # ---- reading -------------------------------------------------------------------------------
    def _open(self, name: str, shard: _Shard, write: bool) -> int | None:
        if shard.fd is not None and (shard.writable or not write):
            return shard.fd
        path = self.root / name
        if write:
            self.root.mkdir(parents=True, exist_ok=True)
        flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT) if write else os.O_RDONLY
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:
            return None
        except OSError as err:
            if os.path.islink(path):
                raise StoreError(self._link_message(path, "a symlink")) from None
            raise StoreError(f"{path}: cannot open the answer store shard: {err}") from None
        if write and os.fstat(fd).st_nlink > 1:
            os.close(fd)
            raise StoreError(self._link_message(path, "a hard link"))
        if shard.fd is not None:
            os.close(shard.fd)
        shard.fd, shard.writable = fd, write
        return fd

    @staticmethod
    def _link_message(path: Path, what: str) -> str:
        return (f"{path} is {what}: the answer store must be a plain folder that DVC does not manage (appending "
                f"would write into DVC's cache, as DVC's cache.type symlink/hardlink links outputs). Point "
                f"annotate.store at a folder outside every DVC output (default cache/llm-store)")

    def _scan(self, shard: _Shard, fd: int) -> None:
        """Index what was appended since the last scan; the caller holds the shard's flock."""
        size = os.fstat(fd).st_size
        if size <= shard.scanned:
            return
        data = os.pread(fd, size - shard.scanned, shard.scanned)
        base, consumed = shard.scanned, 0
        for offset, line in iter_lines(data):
            consumed = offset + len(line)
            parsed = parse_line(line)
            if parsed is None:
                self.torn_records += 1
            else:
                shard.index.setdefault(parsed[0], (base + offset + PAYLOAD_OFFSET, len(parsed[1])))
        shard.scanned = base + consumed   # an unterminated tail (a writer killed mid-write) waits for the next writer

    def _shard(self, name: str, refresh: bool) -> _Shard:
        shard = self._shards.get(name)
        fresh = shard is None
        if fresh:
            shard = self._shards[name] = _Shard()
        if fresh or refresh:
            fd = self._open(name, shard, write=False)
            if fd is not None and os.fstat(fd).st_size > shard.scanned:
                fcntl.flock(fd, fcntl.LOCK_SH)
                try:
                    self._scan(shard, fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        return shard

    def _locate(self, key: str) -> tuple[_Shard, tuple[int, int] | None]:
        name = shard_name(key)
        shard = self._shard(name, refresh=False)
        loc = shard.index.get(key)
        if loc is None:   # another process may have appended it since: look again
            shard = self._shard(name, refresh=True)
            loc = shard.index.get(key)
        return shard, loc

    def payload(self, key: str) -> bytes | None:
        """The canonical payload bytes of `key` (the first record in file order), or None."""
        shard, loc = self._locate(key)
        if loc is None:
            return None
        return os.pread(shard.fd, loc[1], loc[0])

    def get(self, key: str) -> dict | None:
        payload = self.payload(key)
        return None if payload is None else json.loads(payload)

    def __contains__(self, key: str) -> bool:
        return self._locate(key)[1] is not None

    def __len__(self) -> int:
        """Keys in the whole store (indexes every shard)."""
        names = sorted(p.name for p in self.root.glob("??.jsonl")) if self.root.is_dir() else []
        return sum(len(self._shard(name, refresh=True).index) for name in names)

    # ---- writing -------------------------------------------------------------------------------
    def put(self, key: str, record: dict) -> dict:
        """Store `record` unless the key has one already; returns the canonical record."""
        payload = self.put_payload(key, encode_payload(record))
        return json.loads(payload)

    def put_payload(self, key: str, payload: bytes) -> bytes:
        """Append exact payload bytes unless the key has a record already; returns the canonical payload."""
        if not _KEY.match(key.encode("ascii")):
            raise ValueError(f"answer store key must be a sha256 hex digest, got {key!r}")
        existing = self.payload(key)
        if existing is not None:
            return existing
        name = shard_name(key)
        shard = self._shards[name]
        fd = self._open(name, shard, write=True)
        line = encode_line(key, payload)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            self._scan(shard, fd)   # what others appended meanwhile: their record of this key wins
            loc = shard.index.get(key)
            if loc is not None:
                return os.pread(fd, loc[1], loc[0])
            end = os.fstat(fd).st_size
            if end > shard.scanned:   # a torn record left by a killed writer: terminate it, skip it
                if os.pread(fd, 1, end - 1) != b"\n":
                    os.write(fd, b"\n")
                    end += 1
                self.torn_records += 1
            written = os.write(fd, line)
            while written < len(line):   # short writes are rare on regular files; finish under the lock
                written += os.write(fd, line[written:])
            shard.index[key] = (end + PAYLOAD_OFFSET, len(payload))
            shard.scanned = end + len(line)
            self._dirty.add(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return payload

    def take_dirty(self) -> list[int]:
        """The descriptors written since the last call: an fsync of each covers every append made before."""
        fds, self._dirty = sorted(self._dirty), set()
        return fds

    def sync(self) -> int:
        """fsync every shard appended to since the last sync; returns how many."""
        fds = self.take_dirty()
        fsync_all(fds)
        return len(fds)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sync()
        for shard in self._shards.values():
            if shard.fd is not None:
                os.close(shard.fd)
                shard.fd = None
        self._shards.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fsync_all(fds: list[int]) -> None:
    for fd in fds:
        os.fsync(fd)


class GroupCommit:
    """Group commit for an asyncio run: `await stored()` after an append returns once an fsync covers it.

    One fsync round (of the shards written) covers every waiter when `fsync_every` are waiting or `fsync_ms`
    after the first one began waiting, whichever comes first (or when every `active()` task is waiting: no
    other answer can join the round); rounds run one at a time in a thread, so the event loop keeps sending
    and appending meanwhile. `fsync_every: 0` acknowledges at once (no fsync)."""

    def __init__(self, store: AnswerStore, durability, active=lambda: 0):
        self.store, self.active = store, active
        self.every = durability.fsync_every
        self.wait_s = durability.fsync_ms / 1000
        self.rounds = 0
        self._waiters: list[asyncio.Future] = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task] = set()

    async def stored(self) -> None:
        if self.every == 0:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        if len(self._waiters) >= self.every or len(self._waiters) >= self.active():
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.wait_s, self._flush)
        await waiter

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiters, self._waiters = self._waiters, []
        fds = self.store.take_dirty()   # taken now, in the loop: every append of these waiters is before
        task = asyncio.get_running_loop().create_task(self._round(fds, waiters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _round(self, fds: list[int], waiters: list[asyncio.Future]) -> None:
        self._lock = self._lock or asyncio.Lock()
        try:
            async with self._lock:   # rounds in order: a later round's waiters never pass an earlier fsync
                await asyncio.to_thread(fsync_all, fds)
                self.rounds += 1
        except OSError as err:
            for w in waiters:
                if not w.done():
                    w.set_exception(err)
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)
