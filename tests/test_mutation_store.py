"""The answer store's keying and record format (melt.annotate.store): shard names, the payload bytes, the line
format (key, tab, crc32 as 8 hex digits, tab, payload, newline) and what the parser refuses, each against bytes
written out by hand in this file."""

from __future__ import annotations

import zlib

from melt.annotate.store import AnswerStore, encode_line, encode_payload, iter_lines, parse_line, shard_name

KEY = "ab" + "0" * 62


def test_shard_name_is_the_keys_first_two_hex_digits():
    assert shard_name(KEY) == "ab.jsonl"
    assert shard_name("f" * 64) == "ff.jsonl"


def test_payload_bytes_are_sorted_compact_utf8():
    assert encode_payload({"b": "naïve 😀", "a": [1, {"d": None, "c": 2}]}) == (
        '{"a":[1,{"c":2,"d":null}],"b":"naïve 😀"}'.encode("utf-8"))


def test_line_format_written_by_hand():
    payload = b'{"a":1}'
    crc = zlib.crc32(payload)
    assert encode_line(KEY, payload) == KEY.encode() + b"\t" + f"{crc:08x}".encode() + b"\t" + payload + b"\n"
    # a crc below 0x10000000 keeps its leading zero: always 8 digits
    assert encode_line(KEY, b'{"n":8}') == KEY.encode() + b'\t05898037\t{"n":8}\n'
    assert zlib.crc32(b'{"n":8}') == 0x05898037


def test_parse_line_accepts_an_intact_line_with_tabs_inside_the_payload():
    payload = b'{"a":\t1,"b":"x y"}'   # JSON whitespace may be a tab: only the first two tabs separate fields
    line = KEY.encode() + b"\t" + b"%08x" % zlib.crc32(payload) + b"\t" + payload + b"\n"
    assert parse_line(line) == (KEY, payload)


def test_parse_line_refuses_what_is_not_a_complete_intact_record():
    payload = b'{"a":1}'
    crc = b"%08x" % zlib.crc32(payload)
    good = KEY.encode() + b"\t" + crc + b"\t" + payload
    assert parse_line(good + b"\n") == (KEY, payload)
    assert parse_line(good) is None                                           # no newline: torn
    assert parse_line(good.replace(b"\t", b" ") + b"\n") is None              # spaces are not separators
    assert parse_line(KEY.upper().encode() + b"\t" + crc + b"\t" + payload + b"\n") is None   # not lower-case hex
    assert parse_line(KEY[:-1].encode() + b"\t" + crc + b"\t" + payload + b"\n") is None      # 63 digits
    assert parse_line(KEY.encode() + b"\t" + crc[1:] + b"\t" + payload + b"\n") is None       # 7-digit crc
    assert parse_line(KEY.encode() + b"\t" + b"0" + crc + b"\t" + payload + b"\n") is None    # 9-digit crc
    assert parse_line(KEY.encode() + b"\t" + b"zzzzzzzz" + b"\t" + payload + b"\n") is None  # not hex
    assert parse_line(KEY.encode() + b"\t" + crc + b"\t" + b'{"a":2}' + b"\n") is None        # crc mismatch
    assert parse_line(KEY.encode() + b"\t" + crc + b"\n") is None                             # two fields
    assert parse_line(b"\n") is None


def test_iter_lines_offsets_including_an_empty_first_line_and_a_torn_tail():
    data = b"\nab\n\ncd\nef"
    assert list(iter_lines(data)) == [(0, b"\n"), (1, b"ab\n"), (4, b"\n"), (5, b"cd\n")]
    assert list(iter_lines(b"")) == [] and list(iter_lines(b"x")) == []


def test_stored_bytes_on_disk_are_the_hand_written_line(tmp_path):
    with AnswerStore(tmp_path) as store:
        store.put(KEY, {"z": "é", "a": 1})
    payload = '{"a":1,"z":"é"}'.encode("utf-8")
    assert (tmp_path / "ab.jsonl").read_bytes() == (KEY.encode() + b"\t" + b"%08x" % zlib.crc32(payload) + b"\t"
                                                    + payload + b"\n")
