"""The plain path of `kafkalog tail` (ASCII lines with nothing to escape, one line one entry) gives byte for byte
the records, line numbers and offsets of the general path, and declines (consuming nothing) whatever it does not
cover."""

from __future__ import annotations

import pytest

from kafkalog.tail._events import EventMaker
from kafkalog.tail._lines import PLAIN_MAX, EntryAssembler, LineSplitter, PlainRead

NOW = 1_796_000_000.123456
PATH = "/var/log/app/app.log"
PLAIN_LINES = [
    "2026-12-02 10:00:00,123 INFO billing.api seq 1 user=alice paid amount=12.50",
    "2026-12-02 10:00:00,124 ERROR payment failed",
    "warn: lower case level",
    "WARNING: upper, with punctuation",
    "no level word here at all",
    "INFOS and XINFO are not words; ERR is one",
    "  leading spaces then trace text  ",
    "quotes ' and slashes / and DEL \x7f and braces {} [] are plain",
    "CRIT:fatal:NOTICE all three, the first counts",
    "severe SEVERE Panic PANIC",
    "x" * PLAIN_MAX,
    "x" * (PLAIN_MAX - 6) + " ERROR",
]


def _general(data: bytes, maker: EventMaker, start_line: int = 1) -> list[tuple[bytes, int, int]]:
    splitter, assembler = LineSplitter(0, 512 * 1024), EntryAssembler(None, 0, start_line)
    entries = assembler.add(splitter.feed(data))
    events, owners = maker.make_many(entries, PATH, NOW, 1_000_000)
    assert all(isinstance(e, bytes) for e in events)
    return [(e, entries[i].line, entries[i].end) for e, i in zip(events, owners, strict=True)]  # type: ignore[misc]


def _plain(data: bytes, maker: EventMaker, start_line: int = 1) -> tuple[list[tuple[bytes, int, int]], int] | None:
    splitter, assembler = LineSplitter(0, 512 * 1024), EntryAssembler(None, 0, start_line)
    got = splitter.feed_plain(data)
    if got is None:
        assert splitter.buffer == b"" and splitter.buffer_start == 0  # nothing consumed
        return None
    body, lines, start = got
    end = start + len(body) + 1
    read = PlainRead(body, lines, assembler.add_plain(len(lines), end), start, end)
    records = maker.encode_plain(read, PATH, NOW, 1_000_000)
    assert records is not None
    ends = [entry.end for entry in read.entries()]
    assert ends[-1] == read.end == assembler.committed and splitter.end == len(data)
    return [(r, read.first + i, ends[i]) for i, r in enumerate(records)], assembler.committed_line


@pytest.mark.parametrize("static", [{}, {"service": "billing", "env": "prod"}])
def test_plain_records_equal_the_general_ones_byte_for_byte(static: dict[str, str]) -> None:
    maker = EventMaker(host="web-3", fmt="text", static_fields=static, action="log")
    data = "".join(f"{line}\n" for line in PLAIN_LINES).encode() + b"partial, no newline yet"
    plain = _plain(data, maker, start_line=41)
    assert plain is not None
    records, next_line = plain
    assert records == _general(data, maker, start_line=41)
    assert next_line == 41 + len(PLAIN_LINES)


@pytest.mark.parametrize("odd", [
    "a \"quoted\" word", "back\\slash", "tab\there", "carriage return\r", "nul \0 byte", "caf\u00e9 non-ASCII",
    "", "   ", "x" * (PLAIN_MAX + 1), "control \x1b[31m colour",
])
def test_lines_the_plain_path_does_not_cover_go_the_general_way(odd: str) -> None:
    maker = EventMaker(host="web-3", fmt="text", static_fields={})
    data = f"INFO before\n{odd}\nERROR after\n".encode()
    assert _plain(data, maker) is None
    assert _general(data, maker)  # the general path ships them (blank lines skipped)


def test_a_static_field_replacing_a_record_key_declines_the_template() -> None:
    maker = EventMaker(host="web-3", fmt="text", static_fields={"msg": "fixed"})
    splitter = LineSplitter(0, 1024)
    got = splitter.feed_plain(b"INFO a\n")
    assert got is not None
    read = PlainRead(got[0], got[1], 1, 0, 7)
    assert maker.encode_plain(read, PATH, NOW, 1_000_000) is None
    assert [entry.text for entry in read.entries()] == ["INFO a"]
