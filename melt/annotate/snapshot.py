"""The DVC-versioned snapshot of the answers a run used (`cache/llm/`), and its import into the store.

The snapshot holds exactly the store records the run's annotations were resolved from, in the
store's line format, sharded by key prefix and sorted by key: the same keys and the same store give
the same bytes, and `dvc diff` shows new answers. Files are replaced atomically (`melt.io`), never
written in place, so DVC's symlink/hardlink checkouts of them are never written through.
On a fresh clone, `dvc pull` brings the snapshot back; the next run imports it into the store first,
so nothing it holds is paid for twice.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from melt.annotate.store import AnswerStore, encode_line, iter_lines, parse_line, shard_name
from melt.io import TEMP_PREFIX, sweep_temp_files, write_bytes


def import_snapshot(snapshot_dir: Path, store: AnswerStore) -> tuple[int, list[str]]:
    """Copy the snapshot's records the store lacks into it; returns (records imported, problems found)."""
    imported, problems = 0, []
    if not snapshot_dir.is_dir():
        return 0, problems
    for path in sorted(snapshot_dir.glob("*.jsonl")):
        data = path.read_bytes()
        for n, (_, line) in enumerate(iter_lines(data), start=1):
            parsed = parse_line(line)
            if parsed is None:
                problems.append(f"{path}: line {n}: corrupt record skipped (checksum or format)")
                continue
            key, payload = parsed
            if key in store:
                continue
            store.put_payload(key, payload)
            imported += 1
        if data and not data.endswith(b"\n"):
            problems.append(f"{path}: unterminated last line skipped")
    return imported, problems


def write_snapshot(snapshot_dir: Path, store: AnswerStore, keys: Iterable[str]) -> int:
    """Make `snapshot_dir` hold exactly the store's records of `keys`; returns the number of records."""
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(snapshot_dir)
    by_shard: dict[str, list[str]] = defaultdict(list)
    for key in set(keys):
        by_shard[shard_name(key)].append(key)
    count = 0
    for name, shard_keys in by_shard.items():
        lines = []
        for key in sorted(shard_keys):
            payload = store.payload(key)
            if payload is None:
                raise KeyError(f"answer {key} is not in the store {store.root}")
            lines.append(encode_line(key, payload))
        count += len(lines)
        data = b"".join(lines)
        target = snapshot_dir / name
        if not (target.is_file() and target.read_bytes() == data):   # an unchanged DVC checkout stays as it is
            write_bytes(target, data)
    for entry in snapshot_dir.iterdir():   # old shards, and older layouts' files (e.g. batches/): not used now
        if entry.name in by_shard or entry.name.startswith(TEMP_PREFIX):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return count
