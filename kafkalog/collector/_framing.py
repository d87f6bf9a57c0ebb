"""The collector's wire format: versioned, length-prefixed binary frames over a local stream socket.

Every frame is an 8-byte header (magic ``KC``, protocol version, frame type, payload length) and its payload. A
client says HELLO (its pid and a random session id) and gets WELCOME (the largest frame the collector takes); then
it sends BATCHes of already-built messages, each with a sequence number, one at a time, and gets one ACK per batch
(accepted, busy: send it again later, or rejected with a reason). STATS asks for the collector's counters.

Decoding checks every count and length against the frame before it reads: a frame that does not add up raises
:class:`FrameError`, and the collector cuts that client off. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from ..typing import Message

MAGIC = b"KC"
VERSION = 1
HEADER = struct.Struct("!2sBBI")  # magic, version, type, payload length
HELLO, WELCOME, BATCH, ACK, STATS, STATS_REPLY = 1, 2, 3, 4, 5, 6
CLIENT_TYPES = frozenset({HELLO, BATCH, STATS})
SERVER_TYPES = frozenset({WELCOME, ACK, STATS_REPLY})
DEFAULT_MAX_FRAME = 8 * 1024 * 1024
MIN_MAX_FRAME = 64 * 1024

ACCEPTED, BUSY, REJECTED = 0, 1, 2

_HELLO = struct.Struct("!I16s")  # pid, session id; then the client's name (UTF-8)
_WELCOME = struct.Struct("!I")  # the largest frame (header included) the collector takes
_BATCH = struct.Struct("!QI")  # sequence number, message count
_MESSAGE = struct.Struct("!HiIqH")  # topic length, key length (-1: none), value length, timestamp ms, headers
_HEADER_ITEM = struct.Struct("!HI")  # header name length, value length
_ACK = struct.Struct("!QB")  # sequence number, status; then the reason (UTF-8)
MESSAGE_OVERHEAD = _MESSAGE.size
BATCH_OVERHEAD = HEADER.size + _BATCH.size
_TOPIC, _KEY, _VALUE, _HEADERS = (attrgetter(name) for name in ("topic", "key", "value", "headers"))
_new_message = functools.partial(tuple.__new__, Message)  # Message(...) without namedtuple's Python __new__
_MAX_NAME = 256
_MAX_REASON = 1024


class FrameError(ValueError):
    """A frame that breaks the protocol; ``code`` is a short stable name for the stats (``oversized``, ...)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(MAGIC, VERSION, kind, len(payload)) + payload


def parse_header(data: bytes, max_frame: int, allowed: frozenset[int]) -> tuple[int, int]:
    """(type, payload length) of a frame header, checked: magic, version, a type ``allowed``, the size bound."""
    if len(data) != HEADER.size:
        raise FrameError("truncated", "incomplete frame header")
    magic, version, kind, length = HEADER.unpack(data)
    if magic != MAGIC:
        raise FrameError("bad_magic", "not a kafkalog collector frame")
    if version != VERSION:
        raise FrameError("bad_version", f"protocol version {version}, this side speaks {VERSION}")
    if kind not in allowed:
        raise FrameError("unknown_type", f"frame type {kind} not expected here")
    if length + HEADER.size > max_frame:
        raise FrameError("oversized", f"frame of {length + HEADER.size} bytes over the limit of {max_frame}")
    return kind, length


# --- HELLO / WELCOME -----------------------------------------------------------------------------------------

def encode_hello(pid: int, session: bytes, name: str = "") -> bytes:
    return frame(HELLO, _HELLO.pack(pid & 0xFFFFFFFF, session) + name.encode("utf-8")[:_MAX_NAME])


def decode_hello(payload: bytes) -> tuple[int, bytes, str]:
    if len(payload) < _HELLO.size or len(payload) > _HELLO.size + _MAX_NAME:
        raise FrameError("bad_length", "HELLO of the wrong size")
    pid, session = _HELLO.unpack_from(payload)
    return pid, session, _text(payload[_HELLO.size:])


def encode_welcome(max_frame: int) -> bytes:
    return frame(WELCOME, _WELCOME.pack(max_frame))


def decode_welcome(payload: bytes) -> int:
    if len(payload) != _WELCOME.size:
        raise FrameError("bad_length", "WELCOME of the wrong size")
    (max_frame,) = _WELCOME.unpack(payload)
    if max_frame < MIN_MAX_FRAME:
        raise FrameError("bad_length", f"max frame {max_frame} is below {MIN_MAX_FRAME}")
    return int(max_frame)


# --- BATCH ---------------------------------------------------------------------------------------------------

def message_size(message: Message) -> int:
    """The bytes ``message`` takes in a BATCH frame."""
    size = MESSAGE_OVERHEAD + len(message.topic.encode("utf-8")) + len(message.value)
    if message.key is not None:
        size += len(message.key)
    if message.headers:
        size += sum(_HEADER_ITEM.size + len(name.encode("utf-8")) + len(value) for name, value in message.headers)
    return size


def surely_fits(messages: Sequence[Message], limit: int) -> bool:
    """True if ``messages`` (none with headers) take at most ``limit`` bytes in a frame, by an upper bound
    computed in C-speed passes (a topic takes at most 4 bytes per character); False means: measure each."""
    if not messages or any(map(_HEADERS, messages)):
        return False
    bound = sum(map(len, map(_VALUE, messages))) + sum(map(len, filter(None, map(_KEY, messages))))
    return bound + len(messages) * (MESSAGE_OVERHEAD + 4 * max(map(len, map(_TOPIC, messages)))) <= limit


def encode_batch(seq: int, messages: Sequence[Message]) -> bytes:
    parts = [b"", _BATCH.pack(seq, len(messages))]
    append = parts.append
    pack = _MESSAGE.pack
    topics: dict[str, bytes] = {}
    for topic, key, value, timestamp_ms, headers in messages:
        raw_topic = topics.get(topic)
        if raw_topic is None:
            raw_topic = topics[topic] = topic.encode("utf-8")
        append(pack(len(raw_topic), -1 if key is None else len(key), len(value), timestamp_ms,
                    len(headers) if headers else 0))
        append(raw_topic)
        if key is not None:
            append(key)
        append(value)
        if headers:
            for name, header_value in headers:
                raw_name = name.encode("utf-8")
                append(_HEADER_ITEM.pack(len(raw_name), len(header_value)))
                append(raw_name)
                append(header_value)
    body_length = sum(len(part) for part in parts)
    parts[0] = HEADER.pack(MAGIC, VERSION, BATCH, body_length)
    return b"".join(parts)


def decode_batch(payload: bytes) -> tuple[int, list[Message]]:
    """(sequence number, messages) of a BATCH payload; FrameError unless every length adds up exactly."""
    end = len(payload)
    if end < _BATCH.size:
        raise FrameError("truncated", "BATCH shorter than its header")
    seq, count = _BATCH.unpack_from(payload)
    if count == 0 or count * MESSAGE_OVERHEAD > end - _BATCH.size:
        raise FrameError("bad_count", f"BATCH says {count} messages in {end} bytes")
    topics: dict[bytes, str] = {}
    messages: list[Message] = []
    append = messages.append
    unpack = _MESSAGE.unpack_from
    pos = _BATCH.size
    for _ in range(count):
        if pos + MESSAGE_OVERHEAD > end:
            raise FrameError("truncated", "message header past the end of the frame")
        topic_len, key_len, value_len, timestamp_ms, header_count = unpack(payload, pos)
        pos += MESSAGE_OVERHEAD
        if topic_len == 0 or key_len < -1 or pos + topic_len + max(key_len, 0) + value_len > end:
            raise FrameError("bad_length", "message lengths past the end of the frame")
        raw_topic = payload[pos:pos + topic_len]
        topic = topics.get(raw_topic)
        if topic is None:
            topic = topics[raw_topic] = _text(raw_topic)
        pos += topic_len
        key = None
        if key_len >= 0:
            key = payload[pos:pos + key_len]
            pos += key_len
        value = payload[pos:pos + value_len]
        pos += value_len
        headers = None
        if header_count:
            headers, pos = _decode_headers(payload, pos, header_count)
        append(_new_message((topic, key, value, timestamp_ms, headers)))
    if pos != end:
        raise FrameError("bad_length", f"{end - pos} bytes after the last message")
    return seq, messages


def _decode_headers(payload: bytes, pos: int, count: int) -> tuple[tuple[tuple[str, bytes], ...], int]:
    end = len(payload)
    if count * _HEADER_ITEM.size > end - pos:
        raise FrameError("bad_count", f"{count} headers cannot fit")
    headers = []
    for _ in range(count):
        if pos + _HEADER_ITEM.size > end:
            raise FrameError("truncated", "header past the end of the frame")
        name_len, value_len = _HEADER_ITEM.unpack_from(payload, pos)
        pos += _HEADER_ITEM.size
        if pos + name_len + value_len > end:
            raise FrameError("bad_length", "header lengths past the end of the frame")
        name = _text(payload[pos:pos + name_len])
        pos += name_len
        headers.append((name, payload[pos:pos + value_len]))
        pos += value_len
    return tuple(headers), pos


# --- ACK / STATS ---------------------------------------------------------------------------------------------

def encode_ack(seq: int, status: int, reason: str = "") -> bytes:
    return frame(ACK, _ACK.pack(seq, status) + reason.encode("utf-8")[:_MAX_REASON])


def decode_ack(payload: bytes) -> tuple[int, int, str]:
    if len(payload) < _ACK.size or len(payload) > _ACK.size + _MAX_REASON:
        raise FrameError("bad_length", "ACK of the wrong size")
    seq, status = _ACK.unpack_from(payload)
    if status not in (ACCEPTED, BUSY, REJECTED):
        raise FrameError("bad_status", f"ACK status {status}")
    return seq, status, _text(payload[_ACK.size:])


def encode_stats_reply(stats: dict[str, Any]) -> bytes:
    return frame(STATS_REPLY, json.dumps(stats, sort_keys=True).encode("utf-8"))


def decode_stats_reply(payload: bytes) -> dict[str, Any]:
    try:
        stats = json.loads(payload)
    except ValueError as exc:
        raise FrameError("bad_stats", str(exc)) from None
    if not isinstance(stats, dict):
        raise FrameError("bad_stats", "stats are not an object")
    return stats


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("bad_utf8", "text that is not UTF-8") from None
