"""Kafka record headers inside a spool payload (the second frame form of :mod:`._format`)."""

from __future__ import annotations

import struct

HEADER_NAME = struct.Struct("<H")
HEADER_VALUE = struct.Struct("<I")


def encode_headers(headers: tuple[tuple[str, bytes], ...]) -> bytes:
    """The headers block of a spool payload: ``(u16 name length | name utf-8 | u32 value length | value)*``."""
    parts: list[bytes] = []
    for name, value in headers:
        raw = name.encode("utf-8")
        try:
            parts += (HEADER_NAME.pack(len(raw)), raw, HEADER_VALUE.pack(len(value)), bytes(value))
        except struct.error as exc:
            raise ValueError(f"record header {name!r}: {exc}") from exc
    return b"".join(parts)


def decode_headers(buf: bytes, start: int, end: int) -> tuple[tuple[str, bytes], ...]:
    """The headers in ``buf[start:end]``; ValueError (or struct.error) when the lengths do not add up."""
    headers: list[tuple[str, bytes]] = []
    off = start
    while off < end:
        (name_len,) = HEADER_NAME.unpack_from(buf, off)
        name_end = off + HEADER_NAME.size + name_len
        (value_len,) = HEADER_VALUE.unpack_from(buf, name_end)
        value_start = name_end + HEADER_VALUE.size
        off = value_start + value_len
        if off > end:
            raise ValueError("header lengths do not add up")
        headers.append((buf[name_end - name_len:name_end].decode("utf-8"), buf[value_start:off]))
    return tuple(headers)
