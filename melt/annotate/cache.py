"""Content-addressed, append-only response cache: `cache/llm/<kk>.jsonl`, 256 shards by key prefix.

One record per line: ``<key>\\t<crc32 of payload, 8 hex>\\t<payload JSON>\\n``. A record is written
by one ``os.write`` on an O_APPEND descriptor while holding ``flock`` on the shard, so two runs at
once never interleave. A torn last line (crash mid-write) fails its checksum or lacks its newline
and is ignored; the next append first terminates it. Sharding keeps DVC's per-run delta small.
"""

from __future__ import annotations

import fcntl
import json
import os
import zlib
from pathlib import Path



def _shard_name(key: str) -> str:
    return f"{key[:2]}.jsonl"


def _parse_line(line: bytes) -> tuple[str, bytes] | None:
    """(key, payload) of a complete, intact line, else None."""
    if not line.endswith(b"\n"):
        return None
    parts = line[:-1].split(b"\t", 2)
    if len(parts) != 3 or len(parts[0]) != 64:
        return None
    key, crc, payload = parts
    try:
        if int(crc, 16) != zlib.crc32(payload):
            return None
    except ValueError:
        return None
    return key.decode("ascii"), payload


class ResponseCache:
    """Index in memory: key → (shard, offset, length); payloads are read on demand."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[str, int, int]] = {}
        self._fds: dict[str, int] = {}
        self.torn_records = 0
        for path in sorted(self.root.glob("*.jsonl")):
            self._load_shard(path)

    def _load_shard(self, path: Path) -> None:
        offset = 0
        with open(path, "rb") as f:
            for line in f:
                parsed = _parse_line(line)
                if parsed is None:
                    self.torn_records += 1
                else:
                    self._index.setdefault(parsed[0], (path.name, offset + 65 + 9, len(parsed[1])))
                offset += len(line)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, key: str) -> dict | None:
        loc = self._index.get(key)
        if loc is None:
            return None
        shard, offset, length = loc
        with open(self.root / shard, "rb") as f:
            payload = os.pread(f.fileno(), length, offset)
        return json.loads(payload)

    def _fd(self, shard: str) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            fd = os.open(self.root / shard, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._fds[shard] = fd
        return fd

    def put(self, key: str, record: dict) -> None:
        """Append one record (first answer for a key wins on reads; duplicates are harmless)."""
        if key in self._index:
            return
        payload = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        line = key.encode("ascii") + b"\t" + f"{zlib.crc32(payload):08x}".encode() + b"\t" + payload + b"\n"
        shard = _shard_name(key)
        fd = self._fd(shard)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            end = os.fstat(fd).st_size
            if end and os.pread(fd, 1, end - 1) != b"\n":
                os.write(fd, b"\n")   # terminate a torn record left by a crashed writer
                end += 1
            written = os.write(fd, line)
            while written < len(line):   # short writes are rare on regular files; finish under the lock
                written += os.write(fd, line[written:])
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._index[key] = (shard, end + 65 + 9, len(payload))

    def close(self) -> None:
        for fd in self._fds.values():
            os.fsync(fd)
            os.close(fd)
        self._fds.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
