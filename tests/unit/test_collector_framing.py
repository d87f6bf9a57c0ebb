"""The collector's wire format: round trips, strict checks, and fuzzing of the decoder and of a live collector."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkalog import KafkaLogConfig
from kafkalog.collector import Collector, ListenSettings
from kafkalog.collector import _framing as wire
from kafkalog.transports import MemoryTransport
from kafkalog.transports.collector import CollectorTransport, query_stats
from kafkalog.typing import Message

messages_strategy = st.lists(st.builds(
    Message,
    topic=st.text(min_size=1, max_size=30),
    key=st.one_of(st.none(), st.binary(max_size=20)),
    value=st.binary(max_size=200),
    timestamp_ms=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    headers=st.one_of(st.none(), st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=10)), min_size=1,
                                          max_size=3).map(tuple)),
), min_size=1, max_size=20)


def payload_of(data: bytes) -> bytes:
    return data[wire.HEADER.size:]


class TestBatchRoundTrip:
    @given(seq=st.integers(min_value=0, max_value=2**64 - 1), messages=messages_strategy)
    def test_decode_gives_back_what_was_encoded(self, seq: int, messages: list[Message]) -> None:
        """Every field of every message comes back as it was sent, in order."""
        data = wire.encode_batch(seq, messages)
        kind, length = wire.parse_header(data[:wire.HEADER.size], len(data), wire.CLIENT_TYPES)
        assert (kind, length) == (wire.BATCH, len(data) - wire.HEADER.size)
        assert wire.decode_batch(payload_of(data)) == (seq, messages)

    @given(messages=messages_strategy)
    def test_message_size_is_what_the_frame_takes(self, messages: list[Message]) -> None:
        """The client cuts batches by message_size: it must be exact."""
        data = wire.encode_batch(1, messages)
        assert len(data) == wire.BATCH_OVERHEAD + sum(wire.message_size(m) for m in messages)


    @given(messages=messages_strategy, limit=st.integers(min_value=0, max_value=5000))
    def test_surely_fits_never_says_yes_to_a_batch_over_the_limit(self, messages: list[Message], limit: int) -> None:
        """The client skips measuring each message when surely_fits says yes: it must be an upper bound."""
        if wire.surely_fits(messages, limit):
            assert sum(wire.message_size(m) for m in messages) <= limit

    def test_surely_fits_counts_a_topic_in_bytes(self) -> None:
        message = Message("ü" * 20, None, b"x", 0)  # 20 characters, 40 bytes
        assert not wire.surely_fits([message], wire.message_size(message) - 1)
        assert wire.surely_fits([Message("t", None, b"x", 0)], 100)


class TestStrictDecoding:
    @given(data=st.binary(max_size=400))
    def test_random_payloads_raise_only_frame_error(self, data: bytes) -> None:
        """Random bytes as a BATCH payload: decoded exactly, or FrameError; never another exception."""
        try:
            wire.decode_batch(data)
        except wire.FrameError:
            pass

    @given(messages=messages_strategy, data=st.data())
    def test_mutated_and_truncated_batches_never_crash(self, messages: list[Message], data: st.DataObject) -> None:
        """A valid batch cut short or with bytes changed decodes to messages or raises FrameError."""
        payload = bytearray(payload_of(wire.encode_batch(7, messages)))
        cut = data.draw(st.integers(min_value=0, max_value=len(payload)))
        for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
            if payload:
                payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
        for candidate in (bytes(payload[:cut]), bytes(payload)):
            try:
                wire.decode_batch(candidate)
            except wire.FrameError:
                pass

    def test_truncated_batch_is_refused(self) -> None:
        payload = payload_of(wire.encode_batch(1, [Message("t", None, b"value", 0)]))
        with pytest.raises(wire.FrameError) as err:
            wire.decode_batch(payload[:-1])
        assert err.value.code == "bad_length"

    def test_trailing_bytes_are_refused(self) -> None:
        payload = payload_of(wire.encode_batch(1, [Message("t", None, b"value", 0)]))
        with pytest.raises(wire.FrameError):
            wire.decode_batch(payload + b"x")

    def test_a_count_larger_than_the_frame_is_refused_before_reading(self) -> None:
        with pytest.raises(wire.FrameError) as err:
            wire.decode_batch(struct.pack("!QI", 1, 2**32 - 1) + b"\0" * 40)
        assert err.value.code == "bad_count"

    @pytest.mark.parametrize(("header", "code"), [
        (b"XX" + bytes([1, wire.BATCH]) + b"\0\0\0\1", "bad_magic"),
        (b"KC" + bytes([9, wire.BATCH]) + b"\0\0\0\1", "bad_version"),
        (b"KC" + bytes([1, 77]) + b"\0\0\0\1", "unknown_type"),
        (b"KC" + bytes([1, wire.ACK]) + b"\0\0\0\1", "unknown_type"),  # a server frame from a client
        (b"KC" + bytes([1, wire.BATCH]) + b"\x40\0\0\0", "oversized"),
    ])
    def test_bad_headers_are_refused(self, header: bytes, code: str) -> None:
        with pytest.raises(wire.FrameError) as err:
            wire.parse_header(header, wire.DEFAULT_MAX_FRAME, wire.CLIENT_TYPES)
        assert err.value.code == code


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Collector, MemoryTransport, str]]:
    path = str(tmp_path / "c.sock")
    memory = MemoryTransport()
    collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=memory),
                          ListenSettings(path, frame_timeout=2.0))
    collector.start()
    yield collector, memory, path
    collector.close(2.0)


class TestLiveCollector:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(garbage=st.binary(min_size=1, max_size=300), after_hello=st.booleans())
    def test_fuzzed_connections_are_cut_off_and_the_collector_goes_on(
            self, live: tuple[Collector, MemoryTransport, str], garbage: bytes, after_hello: bool) -> None:
        """Random bytes (alone or after a valid HELLO) never stop the collector: the connection ends, and a
        good client's batch is still acknowledged."""
        collector, _memory, path = live
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(path)
            hello = wire.encode_hello(os.getpid(), os.urandom(16)) if after_hello else b""
            conn.sendall(hello + garbage)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):
                pass
        transport = CollectorTransport(path)
        transport.open()
        value = os.urandom(8)
        assert transport.send([Message("t", None, value, 0)], 5.0) == [None]
        transport.close(1.0)
        assert collector.running
        assert query_stats(path)["records"] >= 1

    def test_a_batch_sent_again_is_taken_once(self, live: tuple[Collector, MemoryTransport, str]) -> None:
        """The same batch (same sequence number) sent on a new connection after a lost ack is taken once."""
        collector, memory, path = live
        transport = CollectorTransport(path)
        batch = [Message("t", None, b"once", 0)]
        assert transport.send(batch, 5.0) == [None]
        transport._unacked = (batch[0], 1, transport._seq)  # as if the ack had been lost
        transport._drop_connection()
        assert transport.send(batch, 5.0) == [None]
        collector.pipeline.flush(5.0)  # type: ignore[union-attr]
        assert memory.values() == [b"once"]
        assert query_stats(path)["duplicates"] == 1

    def test_no_collector_is_a_retriable_error(self, tmp_path: Path) -> None:
        """With nothing listening, open and send fail retriably (the records stay with the process)."""
        transport = CollectorTransport(str(tmp_path / "none.sock"))
        results = transport.send([Message("t", None, b"x", 0)], 1.0)
        assert len(results) == 1 and getattr(results[0], "retriable", False)
        assert getattr(results[0], "reason", "") == "collector_unavailable"

    def test_a_full_collector_answers_busy(self, tmp_path: Path) -> None:
        """When a batch does not fit the collector's queue, it is refused as busy (retriable), not dropped."""
        path = str(tmp_path / "c.sock")
        slow = MemoryTransport(delay=30.0)
        collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=slow,
                                             queue_max_records=10, batch_max_records=1, linger=0),
                              ListenSettings(path))
        collector.start()
        try:
            transport = CollectorTransport(path)
            first = [Message("t", None, b"%d" % i, 0) for i in range(10)]
            assert transport.send(first, 5.0) == [None] * 10
            deadline = time.monotonic() + 10
            outcome = transport.send([Message("t", None, b"more", 0)] * 2, 5.0)
            while outcome == [None, None] and time.monotonic() < deadline:  # the sender took one meanwhile
                outcome = transport.send([Message("t", None, b"more", 0)] * 10, 5.0)
            assert all(getattr(r, "reason", "") == "collector_busy" and getattr(r, "retriable", False)
                       for r in outcome), outcome
            assert collector.pipeline is not None and collector.pipeline.stats().dropped == {}
        finally:
            collector.close(0.5)


class TestFirstBatch:
    """A new connection's HELLO and first BATCH go out together: one round trip to the collector, not two."""

    @staticmethod
    def fake_collector(path: str, max_frame: int, frames: list[tuple[int, int]]) -> threading.Thread:
        """Answers WELCOME only once it holds the HELLO and a whole BATCH (a client that waits for the WELCOME
        before it sends gets nothing); then an ACK for each BATCH. ``frames``: (type, size) of each received."""
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)

        def read_frame(conn: socket.socket) -> tuple[int, bytes]:
            header = recv_exactly(conn, wire.HEADER.size)
            kind, length = wire.parse_header(header, wire.DEFAULT_MAX_FRAME, wire.CLIENT_TYPES)
            frames.append((kind, wire.HEADER.size + length))
            return kind, recv_exactly(conn, length)

        def serve() -> None:
            conn, _ = listener.accept()
            listener.close()
            with conn:
                conn.settimeout(10)
                assert read_frame(conn)[0] == wire.HELLO
                welcomed = False
                with contextlib.suppress(OSError, AssertionError):
                    while True:
                        kind, payload = read_frame(conn)
                        assert kind == wire.BATCH
                        seq, _messages = wire.decode_batch(payload)
                        reply = wire.encode_ack(seq, wire.ACCEPTED)
                        conn.sendall(reply if welcomed else wire.encode_welcome(max_frame) + reply)
                        welcomed = True

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return thread

    def test_the_first_batch_does_not_wait_for_the_welcome(self, tmp_path: Path) -> None:
        path = str(tmp_path / "c.sock")
        frames: list[tuple[int, int]] = []
        server = self.fake_collector(path, wire.DEFAULT_MAX_FRAME, frames)
        transport = CollectorTransport(path)
        transport.open()
        assert transport.send([Message("t", None, b"first", 0)], 3.0) == [None]
        assert transport.send([Message("t", None, b"second", 0)], 3.0) == [None]
        transport.close(1.0)
        server.join(10)
        assert [kind for kind, _ in frames] == [wire.HELLO, wire.BATCH, wire.BATCH]

    def test_a_first_batch_over_the_smallest_frame_learns_the_limit_first(self, tmp_path: Path) -> None:
        """More than any collector surely takes (64 KiB): the WELCOME is read first, and the batch is cut to
        the collector's frame limit."""
        path = str(tmp_path / "c.sock")
        frames: list[tuple[int, int]] = []
        listener_limit = wire.MIN_MAX_FRAME
        server = self.fake_welcome_first(path, listener_limit, frames)
        transport = CollectorTransport(path)
        messages = [Message("t", None, os.urandom(1000), 0) for _ in range(200)]
        assert transport.send(messages, 5.0) == [None] * 200
        transport.close(1.0)
        server.join(10)
        batches = [size for kind, size in frames if kind == wire.BATCH]
        assert len(batches) >= 4 and max(batches) <= listener_limit, frames

    @staticmethod
    def fake_welcome_first(path: str, max_frame: int, frames: list[tuple[int, int]]) -> threading.Thread:
        """A collector that answers HELLO at once (as the real one does), then ACKs each BATCH."""
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)

        def serve() -> None:
            conn, _ = listener.accept()
            listener.close()
            with conn, contextlib.suppress(OSError, wire.FrameError):
                conn.settimeout(10)
                while True:
                    header = recv_exactly(conn, wire.HEADER.size)
                    kind, length = wire.parse_header(header, max_frame, wire.CLIENT_TYPES)
                    payload = recv_exactly(conn, length)
                    frames.append((kind, wire.HEADER.size + length))
                    if kind == wire.HELLO:
                        conn.sendall(wire.encode_welcome(max_frame))
                    else:
                        conn.sendall(wire.encode_ack(wire.decode_batch(payload)[0], wire.ACCEPTED))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return thread


def recv_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("closed")
        data += chunk
    return data


class TestConfigOption:
    def test_collector_replaces_bootstrap_servers(self) -> None:
        config = KafkaLogConfig(collector="unix:///run/kafkalog/c.sock", topic="app")
        assert config.collector == "/run/kafkalog/c.sock"
        assert config.transport_spec.name == "collector" and config.servers == ()

    @pytest.mark.parametrize("extra", [{"bootstrap_servers": "h:9092"}, {"transport": "confluent"},
                                       {"producer_config": {"linger_ms": 5}}, {"compression": "gzip"}])
    def test_broker_options_with_collector_raise_naming_it(self, extra: dict[str, object]) -> None:
        with pytest.raises(ValueError, match=r"^collector: .*" + next(iter(extra))):
            KafkaLogConfig(collector="/tmp/c.sock", topic="app", **extra)

    @pytest.mark.parametrize("value", [42, "", "unix:", "/x/" + "a" * 200])
    def test_bad_paths_raise_naming_the_option(self, value: object) -> None:
        with pytest.raises((ValueError, TypeError), match=r"^collector: "):
            KafkaLogConfig(collector=value, topic="app")


class TestFlood:
    def test_a_client_sending_on_while_busy_is_cut_off(self, tmp_path: Path) -> None:
        """Batches pipelined without waiting while the collector answers busy: cut off as a flood, counted."""
        path = str(tmp_path / "c.sock")
        slow = MemoryTransport(delay=30.0)
        collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=slow,
                                             queue_max_records=1, batch_max_records=1, linger=0),
                              ListenSettings(path, max_busy_per_second=50))
        collector.start()
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(10)
                conn.connect(path)
                frames = [wire.encode_batch(n, [Message("t", None, b"x", 0)] * 2) for n in range(1, 400)]
                conn.sendall(wire.encode_hello(os.getpid(), os.urandom(16)))
                with contextlib.suppress(OSError):
                    conn.sendall(b"".join(frames))
                    while conn.recv(65536):
                        pass
            assert query_stats(path)["cut_off"] == {"flood": 1}
        finally:
            collector.close(0.5)


def _close_while_clients_connect(path: str) -> int:
    """A collector closed while a thread connects to it as fast as it can (30 connections in first); how many
    connected."""
    collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=MemoryTransport()),
                          ListenSettings(path))
    collector.start()
    stop = threading.Event()
    conns: list[socket.socket] = []

    def connect() -> None:
        while not stop.is_set():
            conn = socket.socket(socket.AF_UNIX)
            try:
                conn.connect(path)
            except OSError:
                conn.close()
                return
            conns.append(conn)

    storm = threading.Thread(target=connect)
    storm.start()
    deadline = time.monotonic() + 10
    while len(conns) < 30 and time.monotonic() < deadline:
        time.sleep(0.001)
    collector.close(2.0)
    stop.set()
    storm.join(10)
    for conn in conns:
        conn.close()
    return len(conns)


class TestClosing:
    @pytest.mark.slow
    def test_clients_connecting_while_it_closes_leave_no_task_behind(self, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
        """A client's task that has not started yet, or has not finished, when the collector closes is cancelled
        and awaited with the rest, not destroyed with the loop. Destroyed, it shows as "coroutine '_serve' was never
        awaited" (seen in a loaded run), "Task was destroyed but it is pending!", or its cleanup failing with
        "Event loop is closed" (the old code, on an idle machine: 8 of 12 rounds)."""
        import gc
        import sys
        import warnings

        unraisable: list[str] = []
        hook = sys.unraisablehook
        sys.unraisablehook = lambda u: unraisable.append(f"{u.object!r}: {u.exc_value!r}")
        try:
            with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.ERROR, logger="asyncio"):
                warnings.simplefilter("always")
                for round_ in range(12):
                    connected = _close_while_clients_connect(str(tmp_path / f"c{round_}.sock"))
                    assert connected >= 30, connected  # clients were arriving as it closed
                    gc.collect()
        finally:
            sys.unraisablehook = hook
        left_behind = [str(w.message) for w in seen if "never awaited" in str(w.message)]
        left_behind += [r.getMessage() for r in caplog.records if "destroyed" in r.getMessage()]
        left_behind += [u for u in unraisable if "_serve" in u]
        assert left_behind == []
