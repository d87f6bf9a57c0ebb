"""Record ids: unique per record, renewed in a forked child, the same for a tail line read twice; and --dedup's
window."""

from __future__ import annotations

import os
import re

import pytest

from kafkalog import _ids
from kafkalog.consume.dedup import Dedup, record_id
from kafkalog.schemas import to_ecs, to_otlp
from kafkalog.tail._events import EventMaker
from kafkalog.tail._lines import EntryAssembler, LineSplitter, PlainRead

ID = re.compile(r"[a-z2-7]{13}-[0-9a-f]+")


def test_ids_are_unique_and_compact() -> None:
    ids = [_ids.new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(ID.fullmatch(i) for i in ids)
    assert len({i.split("-")[0] for i in ids}) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_has_its_own_prefix() -> None:
    read, write = os.pipe()
    parent_before = _ids.new_id()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, _ids.new_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_after = _ids.new_id()
    assert child.split("-")[0] != parent_before.split("-")[0] == parent_after.split("-")[0]


def test_each_schema_carries_the_id() -> None:
    event = {"type": "info", "action": "log", "time": "2026-12-02T10:00:00.000001+00:00", "msg": "m",
             "fields": {}, "id": "abc-1"}
    assert to_ecs(event)["event"]["id"] == "abc-1"
    attributes = to_otlp(event)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
    assert {"key": "log.record.uid", "value": {"stringValue": "abc-1"}} in attributes
    for doc in (event, to_ecs(event), to_otlp(event)):
        assert record_id(doc) == "abc-1"
    assert record_id({"msg": "no id"}) is None and record_id(None) is None and record_id([1]) is None


def test_tail_ids_are_the_same_on_the_plain_and_general_paths_and_on_a_second_read() -> None:
    """A line's id is its file's prefix and its end offset: the same whichever path encodes it, and again when
    the file is read a second time (a restart)."""
    maker = EventMaker(host="web-3", fmt="text", static_fields={}, action="log")
    data = b"".join(b"line %d INFO hello\n" % i for i in range(50))
    prefix = _ids.file_prefix("web-3", 1, 2, data.split(b"\n")[0])
    splitter, assembler = LineSplitter(0, 512 * 1024), EntryAssembler(None, 0, 1)
    got = splitter.feed_plain(data)
    assert got is not None
    body, lines, start = got
    end = start + len(body) + 1
    read = PlainRead(body, lines, assembler.add_plain(len(lines), end), start, end)
    plain = maker.encode_plain(read, "/x.log", 1.0, 1_000_000, prefix)
    assert plain is not None
    general, _ = maker.make_many(read.entries(), "/x.log", 1.0, 1_000_000, prefix)
    assert plain == general
    slow, _ = maker.make_many(read.entries(), "/x.log", 1.0, 0, prefix)  # dicts, not bytes
    import json
    ids = [json.loads(r)["id"] for r in plain]
    assert ids == [e["id"] for e in slow if isinstance(e, dict)]
    assert len(set(ids)) == 50 and ids[0] == f"{prefix}{len(lines[0]) + 1:x}"
    again = maker.encode_plain(read, "/x.log", 2.0, 1_000_000, prefix)
    assert again is not None and [json.loads(r)["id"] for r in again] == ids


def test_file_prefix_tells_files_apart() -> None:
    base = _ids.file_prefix("h", 1, 2, b"first")
    assert base == _ids.file_prefix("h", 1, 2, b"first")
    assert len({base, _ids.file_prefix("g", 1, 2, b"first"), _ids.file_prefix("h", 1, 3, b"first"),
                _ids.file_prefix("h", 1, 2, b"other")}) == 4


class TestDedup:
    def test_drops_repeats_within_the_window(self) -> None:
        dedup = Dedup(3)
        assert [dedup.repeat(i) for i in ["a", "b", "a", "c", "b"]] == [False, False, True, False, True]
        assert dedup.dropped == 2

    def test_forgets_past_the_window(self) -> None:
        dedup = Dedup(2)
        assert not dedup.repeat("a") and not dedup.repeat("b") and not dedup.repeat("c")
        assert not dedup.repeat("a")  # forgotten: written again
        assert dedup.repeat("c")

    def test_a_record_without_id_is_never_dropped(self) -> None:
        dedup = Dedup(2)
        assert not dedup.repeat(None) and not dedup.repeat(None)

    def test_bad_window(self) -> None:
        with pytest.raises(ValueError, match="--dedup-window"):
            Dedup(0)


def test_the_id_can_be_the_message_key_and_a_header() -> None:
    """``key="id"`` and ``headers=["id"]`` carry the record's own id, so a reader needs not parse the value."""
    import json
    import logging

    from kafkalog import KafkaHandler
    from kafkalog.testing import capture_records

    with capture_records() as captured:
        handler = KafkaHandler("127.0.0.1:9092", "t", key="id", headers=["id"])
        log = logging.getLogger("test_ids.key")
        log.addHandler(handler)
        log.propagate = False
        try:
            log.warning("same text")
            log.warning("same text")
            messages = captured.messages("t")
        finally:
            log.removeHandler(handler)
            handler.close(0)
    ids = [json.loads(m.value)["id"] for m in messages]
    assert len(set(ids)) == 2 and all(ID.fullmatch(i) for i in ids)
    assert [m.key for m in messages] == [i.encode() for i in ids]
    assert [m.headers for m in messages] == [(("id", i.encode()),) for i in ids]
