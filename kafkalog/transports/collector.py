"""The hand-over transport: sends already-built messages to a local collector (``kafkalog collect``) over a Unix
socket, and reports each batch delivered once the collector acknowledged it.

It imports no Kafka client. The collector not being there (not started, restarting, socket gone) and the collector
being busy (its queue full) are retriable errors: the worker keeps the records in its bounded queue (or its
spool), backs off and sends the same batch again, reconnecting by itself. A batch sent again after a lost
acknowledgement carries the same sequence number, so the collector does not take it twice.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..collector import _framing as wire
from ..errors import ConfigError, ConfigTypeError, DeliveryError, Reason
from ..typing import Message
from ._registry import TransportSpec

_CONNECT_TIMEOUT = 2.0
_UNIX_PREFIX = "unix:"


def socket_path(value: object) -> str:
    """The ``collector`` option as an absolute socket path: a path, or a ``unix:`` URL (``unix:///run/x.sock``)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigTypeError(f"collector: expected a Unix socket path or 'unix:PATH', got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise ConfigTypeError("collector: expected a str path")
    if path.startswith(_UNIX_PREFIX):
        path = path[len(_UNIX_PREFIX):]
        if path.startswith("//"):
            path = path[2:]
    if not path or "\0" in path:
        raise ConfigError(f"collector: {value!r} is not a socket path (e.g. '/run/kafkalog/collector.sock')")
    path = os.path.abspath(path)
    if len(path.encode()) > 107:
        raise ConfigError(f"collector: {path!r} is longer than a Unix socket path may be (107 bytes)")
    return path


def _unavailable(path: str, exc: BaseException) -> DeliveryError:
    return DeliveryError(Reason.COLLECTOR_UNAVAILABLE, f"collector at {path} not reachable: "
                                                       f"{type(exc).__name__}: {exc}", retriable=True)


class CollectorTransport:
    """One connection to the collector per process; batches go one at a time, in order."""

    def __init__(self, path: str, *, name: str = "") -> None:
        self.path = path
        self.name = name
        self._sock: socket.socket | None = None
        self._welcomed = False  # the WELCOME of this connection was read (it is read with the first ACK)
        self._session = os.urandom(16)
        self._seq = 0
        self._unacked: tuple[Message, int, int] | None = None  # (first message, count, seq) of the last sent
        self._max_frame = wire.DEFAULT_MAX_FRAME  # the last collector's limit (its WELCOME)

    def open(self) -> None:
        self._connect(_CONNECT_TIMEOUT)

    def _connect(self, timeout: float) -> socket.socket:
        """Connect and say HELLO without waiting for the answer: the WELCOME is read right before the first ACK,
        so a process's first batch costs one round trip to the collector, not two (a recycled Celery child or a
        short job pays it once per life)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.05, timeout))
            sock.connect(self.path)
            sock.sendall(wire.encode_hello(os.getpid(), self._session, self.name))
        except OSError as exc:
            sock.close()
            raise _unavailable(self.path, exc) from None
        self._sock = sock
        self._welcomed = False
        return sock

    def _read_welcome(self, sock: socket.socket) -> None:
        kind, payload = _read_frame(sock, wire.DEFAULT_MAX_FRAME)
        if kind != wire.WELCOME:
            raise wire.FrameError("unknown_type", f"expected WELCOME, got frame type {kind}")
        self._max_frame = wire.decode_welcome(payload)
        self._welcomed = True

    def _welcome_first(self, messages: Sequence[Message], deadline: float) -> DeliveryError | None:
        """Before sending more than the smallest frame any collector takes, learn this collector's limit."""
        if self._welcomed and self._sock is not None:
            return None
        if wire.BATCH_OVERHEAD + sum(map(wire.message_size, messages)) <= wire.MIN_MAX_FRAME:
            return None  # fits any collector's frame: the WELCOME can come with the ACK
        try:
            sock = self._sock or self._connect(min(_CONNECT_TIMEOUT, max(0.05, deadline - time.monotonic())))
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            self._read_welcome(sock)
        except DeliveryError as exc:
            return exc
        except (OSError, wire.FrameError) as exc:
            self._drop_connection()
            return _unavailable(self.path, exc)
        return None

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        deadline = time.monotonic() + timeout
        early = self._welcome_first(messages, deadline)
        if early is not None:
            return [early] * len(messages)
        results: list[BaseException | None] = []
        plan = self._plan(messages)
        for index, step in enumerate(plan):
            error = step if isinstance(step, DeliveryError) else self._exchange(step, deadline)
            if isinstance(step, DeliveryError):
                results.append(step)
            elif error is None:
                results.extend([None] * len(step))
            else:  # this chunk and every later one fail alike: retried together, in order
                for rest in plan[index:]:
                    results.extend([error] * (1 if isinstance(rest, DeliveryError) else len(rest)))
                break
        return results

    def _plan(self, messages: Sequence[Message]) -> list[list[Message] | DeliveryError]:
        """``messages`` cut into frames the collector takes; a message too big for any frame becomes its error."""
        limit = self._max_frame - wire.BATCH_OVERHEAD
        if wire.surely_fits(messages, limit):  # the common case, without a step per message
            return [list(messages)]
        plan: list[list[Message] | DeliveryError] = []
        chunk: list[Message] = []
        size = 0
        for message in messages:
            needed = wire.message_size(message)
            if needed > limit or (chunk and size + needed > limit):
                if chunk:
                    plan.append(chunk)
                chunk, size = [], 0
            if needed > limit:
                plan.append(DeliveryError(Reason.MESSAGE_TOO_LARGE, f"a record of {needed} bytes is over the "
                                          f"collector's frame limit of {self._max_frame}", retriable=False))
                continue
            chunk.append(message)
            size += needed
        if chunk:
            plan.append(chunk)
        return plan

    def _exchange(self, chunk: list[Message], deadline: float) -> DeliveryError | None:
        unacked = self._unacked
        if unacked is not None and unacked[0] is chunk[0] and unacked[1] == len(chunk):
            seq = unacked[2]  # the same batch again: the collector takes it once
        else:
            self._seq += 1
            seq = self._seq
            self._unacked = (chunk[0], len(chunk), seq)
        try:
            sock = self._sock or self._connect(min(_CONNECT_TIMEOUT, max(0.05, deadline - time.monotonic())))
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock.sendall(wire.encode_batch(seq, chunk))
            if not self._welcomed:
                self._read_welcome(sock)
            kind, payload = _read_frame(sock, wire.DEFAULT_MAX_FRAME)
            if kind != wire.ACK:
                raise wire.FrameError("unknown_type", f"expected ACK, got frame type {kind}")
            acked, status, reason = wire.decode_ack(payload)
            if acked != seq:
                raise wire.FrameError("bad_seq", f"ACK for batch {acked}, sent {seq}")
        except DeliveryError as exc:
            return exc
        except (OSError, wire.FrameError) as exc:
            self._drop_connection()
            return _unavailable(self.path, exc)
        if status == wire.ACCEPTED:
            self._unacked = None
            return None
        if status == wire.BUSY:
            return DeliveryError(Reason.COLLECTOR_BUSY, f"collector at {self.path} is busy: {reason}",
                                 retriable=True)
        self._unacked = None
        code, _, detail = reason.partition(":")
        return DeliveryError(code or Reason.TRANSPORT_ERROR, f"collector refused the batch: {detail or reason}",
                             retriable=False)

    def _drop_connection(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def close(self, timeout: float) -> None:
        self._drop_connection()


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = []
    while count:
        chunk = sock.recv(min(count, 1 << 20))
        if not chunk:
            raise ConnectionResetError("the collector closed the connection")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _read_frame(sock: socket.socket, max_frame: int) -> tuple[int, bytes]:
    kind, length = wire.parse_header(_read_exactly(sock, wire.HEADER.size), max_frame, wire.SERVER_TYPES)
    return kind, _read_exactly(sock, length)


def query_stats(path: str, timeout: float = 5.0) -> dict[str, Any]:
    """The collector's stats (totals and per client), asked over its socket; OSError/FrameError if it does not
    answer in time."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(wire.encode_hello(os.getpid(), os.urandom(16), "stats") + wire.frame(wire.STATS))
        kind, payload = _read_frame(sock, wire.DEFAULT_MAX_FRAME)
        if kind == wire.WELCOME:
            kind, payload = _read_frame(sock, wire.DEFAULT_MAX_FRAME)
        if kind != wire.STATS_REPLY:
            raise wire.FrameError("unknown_type", f"expected STATS_REPLY, got frame type {kind}")
        return wire.decode_stats_reply(payload)


def _factory(settings: Mapping[str, Any]) -> CollectorTransport:
    return CollectorTransport(str(settings["collector"]), name=str(settings.get("name", "")))


def _no_client_options(config: Mapping[str, Any], options: Any) -> dict[str, Any]:
    return dict(config)


SPEC = TransportSpec("collector", _no_client_options, _factory, network=False)  # a local socket path only
