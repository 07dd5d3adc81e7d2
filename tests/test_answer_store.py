"""The answer store (append-only, shared, canonical) and its DVC-versioned snapshot."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import stat

import pytest

from melt.annotate.snapshot import import_snapshot, write_snapshot
from melt.annotate.store import AnswerStore, StoreError, encode_line, encode_payload


def key(prefix: str, i: int) -> str:
    return prefix + f"{i:0{64 - len(prefix)}x}"


def test_torn_last_record_ignored_and_terminated(tmp_path):
    with AnswerStore(tmp_path) as store:
        store.put("a" * 64, {"raw": "one"})
        store.put("a" * 63 + "b", {"raw": "two"})
    shard = tmp_path / "aa.jsonl"
    data = shard.read_bytes()
    shard.write_bytes(data[:-7])   # a kill -9 in the middle of the second record
    store = AnswerStore(tmp_path)
    assert len(store) == 1 and store.get("a" * 64) == {"raw": "one"} and ("a" * 63 + "b") not in store
    store.put("a" * 62 + "cc", {"raw": "three"})
    store.close()
    assert shard.read_bytes().count(b"\n") == 3   # the torn line was terminated before the append
    reopened = AnswerStore(tmp_path)
    assert reopened.get("a" * 62 + "cc") == {"raw": "three"} and len(reopened) == 2 and reopened.torn_records == 1
    lines = shard.read_bytes().split(b"\n")   # a flipped byte inside a complete record fails its checksum
    lines[0] = lines[0].replace(b"one", b"onf")
    shard.write_bytes(b"\n".join(lines))
    assert "a" * 64 not in AnswerStore(tmp_path)


def _writer(root, writer, n):
    store = AnswerStore(root)
    for i in range(n):   # all keys in shard "ab"; records > PIPE_BUF, so only flock keeps them whole
        store.put(key(f"ab{writer}", i), {"raw": "x" * 5000, "i": i})
    store.close()


def test_processes_append_at_once_without_interleaving(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(tmp_path, w, 300)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    store = AnswerStore(tmp_path)
    assert len(store) == 900 and store.torn_records == 0   # every record intact, none interleaved
    assert store.get(key("ab2", 299)) == {"raw": "x" * 5000, "i": 299}


def _racer(root, writer, n, out):
    store = AnswerStore(root)
    got = {}
    for i in range(n):   # every writer stores the same keys with its own answer
        got[key("cd", i)] = store.put(key("cd", i), {"writer": writer, "i": i})["writer"]
    store.close()
    out.put((writer, got))


def test_concurrent_answers_to_one_key_first_record_wins_everywhere(tmp_path):
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(tmp_path, w, 200, out)) for w in range(4)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join()
    lines = (tmp_path / "cd.jsonl").read_bytes().splitlines()
    in_file = {line.split(b"\t")[0].decode(): json.loads(line.split(b"\t", 2)[2])["writer"] for line in lines}
    assert len(lines) == 200 == len(in_file)   # nobody appended a key another writer had stored first
    for writer, got in results.items():
        assert got == in_file, writer   # each process used the record that is first in the file
    assert {k: AnswerStore(tmp_path).get(k)["writer"] for k in in_file} == in_file


def test_a_key_stored_by_another_process_is_found_without_reopening(tmp_path):
    reader = AnswerStore(tmp_path)
    assert reader.get(key("ef", 1)) is None
    with AnswerStore(tmp_path) as other:
        other.put(key("ef", 1), {"raw": "late"})
    assert reader.get(key("ef", 1)) == {"raw": "late"}
    assert reader.put(key("ef", 1), {"raw": "mine"}) == {"raw": "late"}
    assert (tmp_path / "ef.jsonl").read_bytes().count(b"\n") == 1


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_shard_linked_into_a_dvc_cache_is_refused(tmp_path, link):
    elsewhere = tmp_path / "dvc-cache-object"
    elsewhere.write_bytes(encode_line(key("aa", 0), encode_payload({"raw": "x"})))
    before = elsewhere.read_bytes()
    (tmp_path / "store").mkdir()
    shard = tmp_path / "store" / "aa.jsonl"
    os.symlink(elsewhere, shard) if link == "symlink" else os.link(elsewhere, shard)
    with pytest.raises(StoreError, match="annotate.store") as err:
        AnswerStore(tmp_path / "store").put(key("aa", 1), {"raw": "y"})
    assert "cache.type" in str(err.value) and str(shard) in str(err.value)
    assert elsewhere.read_bytes() == before


def _store_with(root, records):
    store = AnswerStore(root)
    for k, rec in records:
        store.put(k, rec)
    return store


def test_snapshot_is_exactly_the_keys_used_sorted_and_byte_identical(tmp_path):
    records = [(key(p, i), {"raw": f"{p}{i}", "latency_s": 0.1 * i}) for p in ("00", "7f", "ff") for i in range(5)]
    used = [k for k, _ in records if not k.endswith("4")]   # one record per shard not used by the run
    first = _store_with(tmp_path / "s1", records)
    second = _store_with(tmp_path / "s2", list(reversed(records)))   # the same answers, stored in another order
    assert write_snapshot(tmp_path / "snap1", first, used) == 12
    (tmp_path / "snap2/batches").mkdir(parents=True)                 # files of an older layout, a stale shard
    (tmp_path / "snap2/batches/x.json").write_text("{}")
    (tmp_path / "snap2/aa.jsonl").write_text("stale\n")
    write_snapshot(tmp_path / "snap2", second, reversed(used))
    files1 = {p.name: p.read_bytes() for p in (tmp_path / "snap1").iterdir()}
    files2 = {p.name: p.read_bytes() for p in (tmp_path / "snap2").iterdir()}
    assert files1 == files2 and sorted(files1) == ["00.jsonl", "7f.jsonl", "ff.jsonl"]
    expected = b"".join(encode_line(k, encode_payload(rec)) for k, rec in sorted(records) if k in set(used)
                        and k.startswith("7f"))
    assert files1["7f.jsonl"] == expected   # sorted by key, the store's line format
    mode = stat.S_IMODE((tmp_path / "snap1/00.jsonl").stat().st_mode)
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_snapshot_replaces_linked_files_never_writes_through_them(tmp_path):
    store = _store_with(tmp_path / "store", [(key("aa", i), {"raw": str(i)}) for i in range(3)])
    write_snapshot(tmp_path / "snap", store, [key("aa", 0)])
    cache_object = tmp_path / "cache-object"           # what DVC's hardlink/symlink checkouts point to
    os.replace(tmp_path / "snap/aa.jsonl", cache_object)
    os.link(cache_object, tmp_path / "snap/aa.jsonl")
    digest = hashlib.md5(cache_object.read_bytes()).hexdigest()
    write_snapshot(tmp_path / "snap", store, [key("aa", 0), key("aa", 1)])
    assert hashlib.md5(cache_object.read_bytes()).hexdigest() == digest
    assert (tmp_path / "snap/aa.jsonl").read_bytes().count(b"\n") == 2
    os.unlink(tmp_path / "snap/aa.jsonl")
    os.symlink(cache_object, tmp_path / "snap/aa.jsonl")
    write_snapshot(tmp_path / "snap", store, [key("aa", 2)])
    assert hashlib.md5(cache_object.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "snap/aa.jsonl").is_symlink()


def test_import_seeds_a_fresh_store_and_reports_corrupt_lines(tmp_path):
    old = _store_with(tmp_path / "old", [(key("ab", i), {"raw": str(i)}) for i in range(4)])
    write_snapshot(tmp_path / "snap", old, [key("ab", i) for i in range(4)])
    shard = tmp_path / "snap/ab.jsonl"
    lines = shard.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"2"', b'"X"')        # checksum no longer matches
    shard.write_bytes(b"".join(lines))
    fresh = AnswerStore(tmp_path / "fresh")
    fresh.put(key("ab", 0), {"raw": "bought here first"})
    imported, problems = import_snapshot(tmp_path / "snap", fresh)
    assert imported == 2 and problems == [f"{shard}: line 3: corrupt record skipped (checksum or format)"]
    assert fresh.get(key("ab", 0)) == {"raw": "bought here first"}   # the store's own record wins
    assert fresh.get(key("ab", 1)) == {"raw": "1"} and fresh.get(key("ab", 2)) is None
    assert import_snapshot(tmp_path / "snap", fresh)[0] == 0          # idempotent


def test_keys_must_be_sha256_digests(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        AnswerStore(tmp_path).put("not-a-key", {})


def _fsync_log(monkeypatch, events: list):
    real = os.fsync

    def fsync(fd):
        events.append(("fsync", fd))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_sync_fsyncs_each_shard_written_once(tmp_path, monkeypatch):
    events = []
    _fsync_log(monkeypatch, events)
    store = AnswerStore(tmp_path)
    for i in range(6):   # shards aa and bb, three records each
        store.put(key("aa" if i % 2 else "bb", i), {"raw": str(i)})
    assert events == [] and store.sync() == 2 and len(events) == 2
    assert store.sync() == 0 and len(events) == 2   # nothing new: no fsync
    store.put(key("cc", 1), {"raw": "x"})
    store.close()                                     # close fsyncs what is left
    assert len(events) == 3


def test_group_commit_acknowledges_only_after_an_fsync_covers_the_answer(tmp_path, monkeypatch):
    """Three answers appended at once share one fsync round (timer), then a full group of 2 flushes at once."""
    from melt.annotate.limits import StoreDurability
    from melt.annotate.store import GroupCommit

    events = []
    _fsync_log(monkeypatch, events)

    async def go():
        store = AnswerStore(tmp_path)
        commit = GroupCommit(store, StoreDurability(fsync_every=64, fsync_ms=20), active=lambda: 10)

        async def answer(k):
            store.put(k, {"raw": k[:4]})
            events.append(("put", k))
            await commit.stored()
            events.append(("acknowledged", k))

        await asyncio.gather(answer(key("aa", 1)), answer(key("bb", 1)), answer(key("aa", 2)))   # shards aa, bb
        rounds_after_timer = commit.rounds
        every2 = GroupCommit(store, StoreDurability(fsync_every=2, fsync_ms=60_000), active=lambda: 10)
        commit = every2
        await asyncio.gather(answer(key("cc", 1)), answer(key("dd", 1)))
        store.close()
        return rounds_after_timer, every2.rounds

    rounds_after_timer, rounds_of_two = asyncio.run(go())
    assert rounds_after_timer == 1 and rounds_of_two == 1
    kinds = [e[0] for e in events]
    assert kinds == ["put"] * 3 + ["fsync"] * 2 + ["acknowledged"] * 3 + ["put"] * 2 + ["fsync"] * 2 + \
        ["acknowledged"] * 2


def test_group_commit_off_acknowledges_at_once_and_close_still_fsyncs(tmp_path, monkeypatch):
    from melt.annotate.limits import StoreDurability
    from melt.annotate.store import GroupCommit

    events = []
    _fsync_log(monkeypatch, events)

    async def go():
        store = AnswerStore(tmp_path)
        commit = GroupCommit(store, StoreDurability(fsync_every=0), active=lambda: 1)
        store.put(key("aa", 1), {"raw": "x"})
        await commit.stored()
        assert events == []
        store.close()

    asyncio.run(go())
    assert len(events) == 1
