"""librdkafka's property names, so an unknown one in ``producer_config`` or ``-X`` gets a close match suggested.

librdkafka refuses an unknown name itself (``No such configuration property: "lingr.ms"``) without saying what
was meant. The names are read, when first needed, from the librdkafka that confluent-kafka has loaded (its own
table, ``rd_kafka_conf_properties_show``), so they are those of the installed version. Where that library cannot
be read (a platform without ``/proc`` or ``fdopen``), a short list of commonly used names written here stands in;
it is only for suggestions, never to accept or refuse a name: librdkafka does that.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import re
import sys
import tempfile
from typing import Literal

from ._suggest import suggest

Role = Literal["producer", "consumer"]

_UNKNOWN = re.compile(r'No such configuration property: "([^"]+)"')

# Only for suggestions, where librdkafka's own table cannot be read: (name, "P" producer / "C" consumer / "*" both).
_COMMON: tuple[tuple[str, str], ...] = (
    ("bootstrap.servers", "*"), ("client.id", "*"), ("security.protocol", "*"), ("sasl.mechanism", "*"),
    ("sasl.username", "*"), ("sasl.password", "*"), ("ssl.ca.location", "*"), ("ssl.certificate.location", "*"),
    ("ssl.key.location", "*"), ("ssl.key.password", "*"), ("ssl.endpoint.identification.algorithm", "*"),
    ("enable.ssl.certificate.verification", "*"), ("socket.timeout.ms", "*"), ("socket.keepalive.enable", "*"),
    ("reconnect.backoff.ms", "*"), ("reconnect.backoff.max.ms", "*"), ("message.max.bytes", "*"),
    ("metadata.max.age.ms", "*"), ("topic.metadata.refresh.interval.ms", "*"), ("statistics.interval.ms", "*"),
    ("debug", "*"), ("log_level", "*"), ("client.rack", "*"), ("broker.address.family", "*"),
    ("acks", "P"), ("linger.ms", "P"), ("batch.size", "P"), ("batch.num.messages", "P"),
    ("compression.type", "P"), ("compression.level", "P"), ("enable.idempotence", "P"), ("retries", "P"),
    ("retry.backoff.ms", "P"), ("retry.backoff.max.ms", "P"), ("delivery.timeout.ms", "P"),
    ("message.timeout.ms", "P"), ("request.timeout.ms", "P"), ("queue.buffering.max.messages", "P"),
    ("queue.buffering.max.kbytes", "P"), ("max.in.flight.requests.per.connection", "P"), ("partitioner", "P"),
    ("transactional.id", "P"), ("sticky.partitioning.linger.ms", "P"),
    ("group.id", "C"), ("auto.offset.reset", "C"), ("enable.auto.commit", "C"), ("auto.commit.interval.ms", "C"),
    ("session.timeout.ms", "C"), ("max.poll.interval.ms", "C"), ("fetch.min.bytes", "C"), ("fetch.max.bytes", "C"),
    ("fetch.wait.max.ms", "C"), ("max.partition.fetch.bytes", "C"), ("isolation.level", "C"),
    ("queued.min.messages", "C"), ("queued.max.messages.kbytes", "C"), ("check.crcs", "C"),
)


def unknown_property(text: str) -> str | None:
    """The name librdkafka's error text calls unknown, or None when it says something else."""
    match = _UNKNOWN.search(text)
    return match.group(1) if match else None


def hint(text: str, role: Role) -> str:
    """`` (did you mean 'linger.ms'?)`` for librdkafka's "No such configuration property" error, else ``""``."""
    name = unknown_property(text)
    return suggest(name, names(role)) if name is not None else ""


@functools.cache
def names(role: Role) -> tuple[str, ...]:
    """The property names a ``role`` client takes (global and topic properties), librdkafka's own if readable."""
    wanted = {"*", "P" if role == "producer" else "C"}
    table = _read_table()
    rows = _rows(table) if table else []
    return tuple(name for name, where in (rows or _COMMON) if where in wanted)


def _rows(table: str) -> list[tuple[str, str]]:
    rows = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 2 and re.fullmatch(r"[a-z][a-z0-9._]*", cells[0]) and cells[1] in ("*", "P", "C"):
            rows.append((cells[0], cells[1]))
    return rows


def _read_table() -> str | None:
    """librdkafka's configuration table as it prints it, or None when the library or libc cannot be reached."""
    path = _library_path()
    if path is None:
        return None
    try:
        library = ctypes.CDLL(path)
        libc = ctypes.CDLL(None)
        show = library.rd_kafka_conf_properties_show
        fdopen, fclose = libc.fdopen, libc.fclose
    except (OSError, AttributeError):
        return None
    show.argtypes, show.restype = [ctypes.c_void_p], None
    fdopen.argtypes, fdopen.restype = [ctypes.c_int, ctypes.c_char_p], ctypes.c_void_p
    fclose.argtypes, fclose.restype = [ctypes.c_void_p], ctypes.c_int
    with tempfile.TemporaryFile() as out:
        fd = os.dup(out.fileno())
        stream = fdopen(fd, b"w")
        if not stream:
            os.close(fd)
            return None
        show(stream)
        fclose(stream)
        out.seek(0)
        return out.read().decode("utf-8", "replace")


def _library_path() -> str | None:
    """The librdkafka that confluent-kafka loaded (it is in this process once confluent_kafka is imported)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                if "librdkafka" in line and "/" in line:
                    return line[line.index("/"):].strip()
    except OSError:
        pass
    package = sys.modules.get("confluent_kafka")
    if package is None or package.__file__ is None:
        return None
    here = os.path.dirname(package.__file__)
    found = sorted(glob.glob(os.path.join(here, "..", "confluent_kafka.libs", "librdkafka*"))
                   + glob.glob(os.path.join(here, ".dylibs", "librdkafka*")))
    return found[0] if found else None
