"""kafkalog tail: bytes -> lines -> entries (splitting, partial lines, NUL holes, multi-line entries)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkalog._encode import dumps
from kafkalog.tail._events import EventMaker, level_of
from kafkalog.tail._lines import Entry, EntryAssembler, Line, LineSplitter


class TestLineSplitter:
    def test_lines_end_at_newline_with_their_end_offsets(self) -> None:
        """Each complete line comes out with the offset just after its newline."""
        splitter = LineSplitter(100, 1000)
        assert splitter.feed(b"one\ntwo\r\n") == [Line("one", 104), Line("two", 109)]
        assert splitter.end == 109

    def test_partial_line_waits_for_its_newline(self) -> None:
        """A last line without newline is held until the newline arrives, across reads."""
        splitter = LineSplitter(0, 1000)
        assert splitter.feed(b"a\npar") == [Line("a", 2)]
        assert splitter.buffer == b"par"
        assert splitter.feed(b"tial\n") == [Line("partial", 10)]

    def test_partial_line_can_be_taken_on_timeout(self) -> None:
        """take_partial ships the held bytes as a line, ending where they end."""
        splitter = LineSplitter(0, 1000)
        splitter.feed(b"a\nlast")
        assert splitter.take_partial() == Line("last", 6)
        assert splitter.take_partial() is None

    def test_nul_hole_is_skipped(self) -> None:
        """NUL bytes (a truncation racing a writer) are dropped, alone or before a line."""
        splitter = LineSplitter(0, 1000)
        lines = splitter.feed(b"\0\0\0\0seq 1\n\0\0\n")
        assert [line.text for line in lines] == ["seq 1"]
        assert splitter.feed(b"\0\0\0") == [] and splitter.buffer == b""

    def test_long_line_is_cut_at_the_limit(self) -> None:
        """A line longer than max_line_bytes comes out in pieces: memory stays bounded."""
        splitter = LineSplitter(0, 10)
        lines = splitter.feed(b"x" * 25 + b"\n")
        assert [len(line.text) for line in lines] == [10, 10, 5]
        assert lines[-1].end == 26

    def test_invalid_utf8_is_replaced(self) -> None:
        assert LineSplitter(0, 100).feed(b"caf\xe9\n")[0].text == "caf\ufffd"

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(alphabet="ab \t\n\r\0\xe9", max_size=12), max_size=12), st.integers(1, 9),
           st.lists(st.integers(0, 100), max_size=3))
    def test_plain_chunks_split_at_c_speed_as_line_by_line(self, parts: list[str], limit: int,
                                                         cuts: list[int]) -> None:
        """Plain chunks (ASCII, no NUL or CR, no line over the limit) are split in one go, the rest line by line:
        whatever the bytes and however they are cut into reads, the lines, their end offsets and what waits are
        those of splitting everything line by line."""
        data = "\n".join(parts).encode()
        reads = [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True)]
        fast, slow = LineSplitter(7, limit), LineSplitter(7, limit)
        slow._split_plain = lambda buffer, start: None  # type: ignore[method-assign]
        got = [line for chunk in reads for line in fast.feed(chunk)]
        want = [line for chunk in reads for line in slow.feed(chunk)]
        assert got == want and fast.end == slow.end and fast.buffer == slow.buffer
        assert fast.take_partial() == slow.take_partial()


class TestEntryAssembler:
    def test_without_pattern_each_line_is_an_entry(self) -> None:
        assembler = EntryAssembler(None, 0, 1)
        entries = assembler.add([Line("a", 2), Line("b", 4)])
        assert [(e.text, e.line, e.end) for e in entries] == [("a", 1, 2), ("b", 2, 4)]

    def test_stack_trace_stays_one_entry(self) -> None:
        """Lines not matching the start pattern join the entry before; the next start line releases it."""
        assembler = EntryAssembler(re.compile(r"^\d{4}-"), 0, 1)
        lines = ["2026-01-01 ERROR boom", "Traceback (most recent call last):", '  File "a.py", line 1',
                 "ValueError: x", "2026-01-01 INFO next"]
        ends = [10, 20, 30, 40, 50]
        entries = assembler.add([Line(t, e) for t, e in zip(lines, ends, strict=True)])
        assert len(entries) == 1 and entries[0].text == "\n".join(lines[:4]) and entries[0].end == 40
        assert assembler.holding and assembler.committed == 40
        last = assembler.take()
        assert last is not None and last.text == lines[4] and last.line == 5 and assembler.committed == 50

    def test_committed_stays_before_held_entry(self) -> None:
        """What is held is not committed: a restart reads it again."""
        assembler = EntryAssembler(re.compile("^S"), 0, 1)
        assert assembler.add([Line("S1", 3), Line(" cont", 9)]) == []
        assert assembler.committed == 0


class TestEvents:
    def test_text_line_follows_the_record_contract(self) -> None:
        event = EventMaker(host="h", fmt="text", static_fields={"service": "x"}).make(
            "2026-01-01 WARN disk low", "/var/log/a.log", 7, 0.0)
        assert event["msg"] == "2026-01-01 WARN disk low" and event["type"] == "warning"
        assert event["fields"] == {"path": "/var/log/a.log"} and event["host"] == "h" and event["line"] == 7
        assert event["service"] == "x" and event["time"] == "1970-01-01T00:00:00.000000+00:00"

    def test_json_line_is_kept_in_fields(self) -> None:
        event = EventMaker(host="h", fmt="json", static_fields={}).make(
            '{"message": "hi", "level": "ERROR", "user": "al"}', "/p", 1, 0.0)
        assert event["msg"] == "hi" and event["type"] == "error"
        assert event["fields"] == {"user": "al", "level": "ERROR", "path": "/p"}

    def test_bad_json_line_is_shipped_as_text(self) -> None:
        event = EventMaker(host="h", fmt="json", static_fields={}).make("not json", "/p", 1, 0.0)
        assert event["msg"] == "not json" and event["fields"]["json_error"]

    @pytest.mark.parametrize("static", [{}, {"service": "x", "n": 3}, {"host": "other"}, {"msg": "replaced"}])
    def test_encoded_events_are_the_bytes_of_the_dict_events(self, static: dict[str, object]) -> None:
        """make_many's spliced JSON equals dumps() of make()'s event, byte for byte (a static field replacing
        msg, type or line: dict events); blank entries are skipped; a text too long for the byte bound stays a
        dict (the intake may still truncate it)."""
        maker = EventMaker(host="h", fmt="text", static_fields=static)
        texts = ["2026 WARN disk low", 'quote " back \\ tab \t ctl \x01 caf\xe9 \u2713', "   ", "x" * 300, "error"]
        entries = [Entry(text, 10 + i, 100 * i) for i, text in enumerate(texts)]
        events, owners = maker.make_many(entries, "/var/log/a b.log", 1.5, encode_max_bytes=1200)
        assert owners == [0, 1, 3, 4]
        for event, index in zip(events, owners, strict=True):
            want = dumps(maker.make(texts[index], "/var/log/a b.log", 10 + index, 1.5))
            assert (event if isinstance(event, bytes) else dumps(event)) == want
        kinds = [isinstance(event, bytes) for event in events]
        assert kinds == ([False] * 4 if "msg" in static else [True, True, False, True])

    def test_level_words(self) -> None:
        assert level_of("x ERROR y") == "error" and level_of("[warn] y") == "warning"
        assert level_of("no level here: informative") is None
