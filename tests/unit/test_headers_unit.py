"""The headers option: checked at construction, rendered per record, carried by the memory transport and the
disk spool (whose files without headers keep the format of earlier versions)."""

from __future__ import annotations

import logging
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkalog import ConfigError, ConfigTypeError, KafkaHandler, KafkaLogConfig
from kafkalog._route import compile_headers
from kafkalog.spool import DiskSpool
from kafkalog.spool._format import FILE_HEADER, FILE_MAGIC, encode_frame
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message

from .conftest import BOOTSTRAP
from .test_spool import drain, segments

EVENT = {"type": "info", "service": "billing", "trace_id": "ab" * 16, "fields": {"user": "alice", "n": 7}}


def _render(headers: object, event: dict = EVENT) -> object:
    render = compile_headers(headers)
    assert render is not None
    return render(event)


class TestOption:
    @pytest.mark.parametrize(("value", "error", "says"), [
        ("service", ConfigTypeError, "mapping of header name"),
        (42, ConfigTypeError, "mapping of header name"),
        ({"": "x"}, ConfigTypeError, "non-empty strings"),
        ({1: "x"}, ConfigTypeError, "non-empty strings"),
        ({"n": 5}, ConfigTypeError, "must be a str"),
        ({"n": "{a b}"}, ConfigError, "placeholder"),
        ({"n": "x{service"}, ConfigError, "unbalanced"),
        (["fields.bad path"], ConfigError, "placeholder"),
    ])
    def test_bad_values_raise_at_construction(self, value: object, error: type[Exception], says: str) -> None:
        """Each wrong form raises when the config is made, naming the option and what is allowed."""
        with pytest.raises(error, match=f"headers: .*{says}"):
            KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="t", headers=value)  # type: ignore[arg-type]

    def test_unset_means_no_header_step(self) -> None:
        """headers=None (the default) and an empty mapping compile to nothing: no work per record."""
        assert KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="t").headers_for is None
        assert compile_headers({}) is None


class TestRendering:
    def test_fixed_values_are_one_shared_tuple(self) -> None:
        """Only fixed values: the same tuple for every record, str encoded as UTF-8, bytes as given."""
        render = compile_headers({"env": "prød", "raw": b"\x00\x01"})
        assert render is not None
        first = render(EVENT)
        assert first == (("env", "prød".encode()), ("raw", b"\x00\x01"))
        assert render({}) is first

    def test_templates_read_record_keys_and_field_paths(self) -> None:
        """Templates name top-level keys and fields.<name> paths; non-str values are written with str()."""
        assert _render({"svc": "{service}", "who": "{fields.user}/{fields.n}", "tid": "t-{trace_id}"}) == (
            ("svc", b"billing"), ("who", b"alice/7"), ("tid", f"t-{'ab' * 16}".encode()))

    def test_a_list_names_record_keys(self) -> None:
        """A list of keys: each becomes a header of that name with the record's value."""
        assert _render(["service", "fields.user"]) == (("service", b"billing"), ("fields.user", b"alice"))

    def test_missing_values_leave_the_header_out(self) -> None:
        """A template whose value is missing or empty drops that header only; none left gives None."""
        assert _render({"svc": "{service}", "tid": "{trace_id}", "s": "x"}, {"service": ""}) == (("s", b"x"),)
        assert _render({"tid": "{trace_id}"}, {"type": "info"}) is None


class TestShipped:
    def test_messages_carry_headers_and_none_without_the_option(self,
                                                               make_handler: Callable[..., KafkaHandler]) -> None:
        """The memory transport keeps each message's headers; without the option they are None."""
        memory, plain = MemoryTransport(), MemoryTransport()
        with_headers = make_handler(transport=memory, headers={"level": "{type}", "app": "shop"})
        without = make_handler(transport=plain)
        log = logging.Logger("headers")
        log.addHandler(with_headers)
        log.addHandler(without)
        log.warning("x")
        assert with_headers.flush(5) and without.flush(5)
        assert memory.messages[0].headers == (("app", b"shop"), ("level", b"warning"))
        assert plain.messages[0].headers is None


def _old_frame(message: Message) -> bytes:
    """One frame as spool files were written before headers existed (the layout documented in _format)."""
    topic = message.topic.encode()
    key = message.key
    head = struct.pack("<qHi", message.timestamp_ms, len(topic), -1 if key is None else len(key))
    payload = head + topic + (key or b"") + message.value
    return struct.pack("<4sII", b"\xd5KL1", len(payload), zlib.crc32(payload)) + payload


class TestSpool:
    def test_headers_round_trip_among_plain_records(self, tmp_path: Path) -> None:
        """Records with and without headers come back exactly, in order, after a restart."""
        sent = [Message("t", None, b"plain", 1),
                Message("t", b"k", b"with", 2, (("a", b"1"), ("ü", b""), ("a", b"\xff" * 300))),
                Message("t", b"", b"", 3, (("only", b"x"),)),
                Message("t", b"k", b"plain again", 4)]
        with DiskSpool(tmp_path / "spool", rescan_interval=0) as spool:
            spool.append(sent)
        with DiskSpool(tmp_path / "spool", rescan_interval=0) as spool:
            assert drain(spool) == sent

    def test_plain_records_are_written_in_the_old_layout(self) -> None:
        """A record without headers is framed byte for byte as before, so an older version can still read it."""
        message = Message("logs", b"key", b'{"msg":"x"}', 1_700_000_000_000)
        out: list[bytes] = []
        encode_frame(message, {}, out)
        assert b"".join(out) == _old_frame(message)

    def test_a_spool_file_of_the_old_format_is_replayed(self, tmp_path: Path) -> None:
        """A segment written by hand in the old layout (by a process long gone) is read back whole."""
        directory = tmp_path / "spool"
        directory.mkdir()
        sent = [Message("logs", None, b"one", 1), Message("logs", b"k", b"two", 2)]
        created = time.time_ns()
        (directory / f"99999999-{created}-0.seg").write_bytes(
            FILE_HEADER.pack(FILE_MAGIC, created) + b"".join(_old_frame(m) for m in sent))
        with DiskSpool(directory, rescan_interval=0) as spool:
            assert drain(spool) == sent

    def test_flipped_byte_in_headers_is_caught_and_the_rest_counted(self, tmp_path: Path) -> None:
        """The CRC covers the headers; the frames after a bad one are counted as skipped, with headers too."""
        directory = tmp_path / "spool"
        sent = [Message("t", None, f"r{n}".encode(), n, (("h", f"marker-{n}".encode()),)) for n in range(10)]
        with DiskSpool(directory, rescan_interval=0) as spool:
            spool.append(sent)
        [segment] = segments(directory)
        data = bytearray(segment.read_bytes())
        data[data.index(b"marker-5")] ^= 0x01
        segment.write_bytes(data)
        with DiskSpool(directory, rescan_interval=0) as reader:
            assert drain(reader) == sent[:5]
            assert reader.corrupt_skipped == 5
