"""The check's steps for a configuration that hands records to a local collector (``collector=``): the socket, the
permission to use it, a HELLO/WELCOME and a probe batch acknowledged, the probe delivered, and the collector's
own health (as ``kafkalog collect --health``). No broker is contacted: the collector owns that side.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..collector import _framing as wire
from ..collector._health import health
from ..config import KafkaLogConfig
from ..errors import DeliveryError
from ..transports.collector import CollectorTransport, query_stats
from ..typing import Message
from ._steps import (
    AUTHENTICATE,
    CONNECT,
    EXIT_AUTHENTICATION,
    EXIT_CONNECTION,
    EXIT_ROUND_TRIP,
    PRODUCE,
    READ_BACK,
    CheckFailed,
)

DELIVER = "deliver"
HEALTH = "health"
_PAUSE = 0.2
_HANDSHAKE_TIMEOUT = 5.0


def _hello(path: str, timeout: float) -> int:
    """Connect and say HELLO; the collector's frame limit from its WELCOME. CheckFailed naming the cause."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CheckFailed(f"no socket at {path}: is 'kafkalog collect --socket {path}' running?",
                          EXIT_CONNECTION) from None
    except PermissionError:
        raise CheckFailed(f"cannot reach {path}: permission denied on its directory (uid {os.geteuid()})",
                          EXIT_AUTHENTICATION) from None
    except OSError as exc:
        raise CheckFailed(f"cannot reach {path}: {exc.strerror or exc}", EXIT_CONNECTION) from None
    if not stat.S_ISSOCK(mode):
        raise CheckFailed(f"{path} is not a socket", EXIT_CONNECTION)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(max(0.05, min(timeout, _HANDSHAKE_TIMEOUT)))
        try:
            sock.connect(path)
        except PermissionError:
            raise CheckFailed(f"permission denied on {path} (mode {stat.S_IMODE(mode):04o}) for uid {os.geteuid()}: "
                              "the collector lets in its own user, or a group with --group and --socket-mode 0660",
                              EXIT_AUTHENTICATION) from None
        except ConnectionRefusedError:
            raise CheckFailed(f"nothing listens on {path} (left by a collector that is gone?)",
                              EXIT_CONNECTION) from None
        except OSError as exc:
            raise CheckFailed(f"cannot connect to {path}: {exc.strerror or exc}", EXIT_CONNECTION) from None
        try:
            sock.sendall(wire.encode_hello(os.getpid(), os.urandom(16), "kafkalog-check"))
            header = _read(sock, wire.HEADER.size)
            kind, length = wire.parse_header(header, wire.DEFAULT_MAX_FRAME, wire.SERVER_TYPES)
            payload = _read(sock, length)
            if kind != wire.WELCOME:
                raise wire.FrameError("unknown_type", f"frame type {kind} instead of WELCOME")
            return wire.decode_welcome(payload)
        except ConnectionError:
            raise CheckFailed(f"the collector at {path} closed the connection without a welcome: this user (uid "
                              f"{os.geteuid()}) is not allowed (--group, --allow-group), or it has --max-clients "
                              "connections already", EXIT_AUTHENTICATION) from None
        except (OSError, wire.FrameError) as exc:
            raise CheckFailed(f"{path} does not answer as a kafkalog collector: {exc}", EXIT_CONNECTION) from None


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("closed")
        data += chunk
    return data


def _stats(path: str, timeout: float) -> Mapping[str, Any]:
    try:
        return query_stats(path, timeout=max(0.05, min(timeout, _HANDSHAKE_TIMEOUT)))
    except (OSError, ValueError) as exc:
        raise CheckFailed(f"the collector at {path} did not answer its stats: {exc}", EXIT_ROUND_TRIP) from None


def _settled(stats: Mapping[str, Any]) -> int:
    pipeline = stats.get("pipeline") or {}
    return int(pipeline.get("delivered", 0)) + int(sum((pipeline.get("dropped") or {}).values()))


def check_collector(config: KafkaLogConfig, message: Message, left: Callable[[str], float],
                    say: Callable[..., None]) -> None:
    """Run the collector's steps; ``left(step)`` is the time left (CheckFailed when none), ``say`` reports."""
    path = config.collector
    assert path is not None
    step = CONNECT
    try:
        max_frame = _hello(path, left(CONNECT))
        say(CONNECT, True, f"a collector answers on {path} (frames up to {max_frame} bytes)")
        say(AUTHENTICATE, True, f"uid {os.geteuid()} may hand records over")

        step = PRODUCE
        before = _stats(path, left(PRODUCE))
        began = time.monotonic()
        transport = CollectorTransport(path, name="kafkalog-check")
        try:
            while True:
                outcome = transport.send([message], left(PRODUCE))[0]
                if outcome is None:
                    break
                if not isinstance(outcome, DeliveryError) or not outcome.retriable or left(PRODUCE) < _PAUSE:
                    raise CheckFailed(f"the collector did not take the probe record: {outcome}", EXIT_ROUND_TRIP)
                time.sleep(_PAUSE)
        finally:
            transport.close(1.0)
        say(PRODUCE, True, f"probe record acknowledged by the collector in {time.monotonic() - began:.1f} s")

        step = DELIVER
        target = int((_stats(path, left(READ_BACK)).get("pipeline") or {}).get("enqueued", 0))
        while True:
            now = _stats(path, left(READ_BACK))
            if _settled(now) >= target:
                break
            if left(READ_BACK) < _PAUSE:
                raise CheckFailed(f"the collector has not delivered the probe record (for {message.topic!r}) "
                                  f"within the check's --timeout: {health(now)[1]}", EXIT_ROUND_TRIP)
            time.sleep(_PAUSE)
        dropped = {k: v - (before.get("pipeline", {}).get("dropped") or {}).get(k, 0)
                   for k, v in (now.get("pipeline", {}).get("dropped") or {}).items()}
        dropped = {k: v for k, v in dropped.items() if v}
        if dropped:
            raise CheckFailed(f"the collector dropped records meanwhile ({dropped}), the probe record maybe "
                              f"among them: {health(now)[1]}", EXIT_ROUND_TRIP)
        say(DELIVER, True, f"the collector delivered the probe record to {message.topic!r} in "
                             f"{time.monotonic() - began:.1f} s")

        step = HEALTH
        healthy, said = health(now)
        if not healthy:
            raise CheckFailed(said, EXIT_ROUND_TRIP)
        say(HEALTH, True, said)
    except CheckFailed as failure:
        say(step, False, failure.detail, failure.code)
