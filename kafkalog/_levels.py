"""Logger levels changed at run time from one key of a compacted topic (``levels_from="kafka://TOPIC/KEY"``).

A background thread reads the topic from its beginning (no consumer group, nothing committed: a process started
later reads the current value too) and keeps following it. Each value of the key is the JSON that ``kafkalog
levels set`` writes: ``{"levels": {"billing.api": {"level": "DEBUG", "until": 1765000000.0}}}`` (``until``: the
Unix time the change ends, or null). The levels are set on the stdlib loggers named; a logger no longer named, or
whose ``until`` passed, gets back the level it had before. A value that is not valid is reported once and ignored
(the levels stay as they were); the topic unreachable changes nothing. Nothing here runs on the application's
thread. After ``fork()`` the child starts its own follower.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, Reason

_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_POLL_MS = 500
_RETRY = 2.0
LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NOTSET")
Levels = dict[str, tuple[int, float | None]]


def parse_source(url: object) -> tuple[str, str]:
    """``kafka://TOPIC/KEY`` -> ``(topic, key)``; ConfigError naming ``levels_from`` otherwise."""
    if not isinstance(url, str):
        raise ConfigError(f"levels_from: expected 'kafka://TOPIC/KEY', got {url!r}")
    parts = urlsplit(url)
    topic, key = parts.netloc, unquote(parts.path[1:])
    if parts.scheme != "kafka" or parts.query or parts.fragment or not key or topic in (".", "..") \
            or not _TOPIC.fullmatch(topic):
        raise ConfigError(f"levels_from: expected 'kafka://TOPIC/KEY' (a topic of 1-249 of a-z A-Z 0-9 . _ -), "
                          f"got {url!r}")
    return topic, key


def parse_levels(value: bytes | None) -> Levels:
    """The levels a value of the key sets (a tombstone: none). ValueError saying what is wrong."""
    if value is None:
        return {}
    try:
        document = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    levels = document.get("levels") if isinstance(document, dict) else None
    if not isinstance(levels, dict):
        raise ValueError('expected {"levels": {"LOGGER": {"level": "DEBUG", "until": null}}}')
    out: Levels = {}
    for name, entry in levels.items():
        level = entry.get("level") if isinstance(entry, dict) else None
        until = entry.get("until") if isinstance(entry, dict) else None
        if not isinstance(level, str) or level.upper() not in LEVEL_NAMES:
            raise ValueError(f"logger {name!r}: level must be one of {list(LEVEL_NAMES)}, got {level!r}")
        if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))):
            raise ValueError(f"logger {name!r}: until must be a Unix time or null, got {until!r}")
        out[name] = (logging.getLevelName(level.upper()), None if until is None else float(until))
    return out


def levels_document(levels: Mapping[str, str], until: float | None) -> bytes:
    """The value ``kafkalog levels set`` writes."""
    return json.dumps({"levels": {name: {"level": level.upper(), "until": until} for name, level in levels.items()},
                       "set_at": time.time()}).encode()


class LevelFollower:
    """Follows one key and applies it to stdlib loggers; ``report(kind, text)`` says what went wrong (once)."""

    def __init__(self, url: str, bootstrap_servers: list[str], client_settings: Mapping[str, Any],
                 report: Callable[[str, str], None]) -> None:
        self.topic, self.key = parse_source(url)
        self.url = url
        self._settings = {"bootstrap_servers": list(bootstrap_servers), **client_settings}
        self._report = report
        self._lock = threading.Lock()
        self._applied: Levels = {}
        self._before: dict[str, int] = {}  # each logger's level before we first changed it
        self._reported: set[str] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._imported = threading.Event()  # a fork waits for it: a child must not inherit a half-imported client
        _followers.add(self)
        self.start()

    def start(self) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafkalog-levels", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _once(self, what: str, text: str) -> None:
        if what not in self._reported:
            self._reported.add(what)
            self._report(Reason.LEVELS, f"levels_from {self.url}: {text}")

    def _open(self) -> Any:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(client_id="kafkalog-levels", group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", **self._settings)
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.close()
            raise LookupError(f"topic {self.topic!r} not found")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return consumer

    def _run(self) -> None:
        try:
            import kafka  # noqa: F401
        finally:
            self._imported.set()
        key = self.key.encode("utf-8")
        consumer: Any = None
        stopped = self._stopped
        while not stopped.is_set():
            latest: Any = _NONE
            try:
                if consumer is None:
                    consumer = self._open()
                for records in consumer.poll(timeout_ms=_POLL_MS).values():
                    for record in records:
                        if record.key == key:
                            latest = record.value
            except Exception as exc:  # unreachable, not authorized, no topic: nothing changes; try again
                self._once(f"read:{type(exc).__name__}", f"cannot read the topic ({type(exc).__name__}: {exc}); "
                           "the levels stay as they are")
                if consumer is not None:
                    try:
                        consumer.close()
                    except Exception:
                        pass
                    consumer = None
                stopped.wait(_RETRY)
            if latest is not _NONE:
                self._apply_value(latest)
            self._expire()
        if consumer is not None:
            try:
                consumer.close()
            except Exception:
                pass

    def _apply_value(self, value: bytes | None) -> None:
        try:
            levels = parse_levels(value)
        except ValueError as exc:
            self._once(f"value:{value!r}", f"ignored an invalid value: {exc}")
            return
        now = time.time()
        self.apply({name: lu for name, lu in levels.items() if lu[1] is None or lu[1] > now})

    def apply(self, levels: Levels) -> None:
        """Set ``levels``; loggers set before and not named now get their own level back."""
        with self._lock:
            for name in set(self._applied) - set(levels):
                self._restore(name)
            for name, (level, _) in levels.items():
                logger = logging.getLogger(name)
                self._before.setdefault(name, logger.level)
                logger.setLevel(level)
            self._applied = dict(levels)

    def _restore(self, name: str) -> None:
        before = self._before.pop(name, None)
        if before is not None:
            logging.getLogger(name).setLevel(before)

    def _expire(self) -> None:
        now = time.time()
        with self._lock:
            over = [name for name, (_, until) in self._applied.items() if until is not None and until <= now]
            for name in over:
                self._restore(name)
                del self._applied[name]

    def after_fork(self) -> None:
        """In a forked child: the thread and the client are gone; start again (the levels set stay as they are)."""
        self._lock = threading.Lock()
        if not self._stopped.is_set():
            self.start()


def follow_levels(config: Any, report: Callable[[str, str], None]) -> LevelFollower:
    """The follower of ``config.levels_from``, with the brokers and security options the config ships with."""
    from ._client_options import SECURITY_OPTIONS
    from .consume.security import security_config

    o = config.client_options
    settings = security_config("kafka-python", {name: getattr(o, name) for name in SECURITY_OPTIONS})
    return LevelFollower(config.levels_from, list(config.servers), settings, report)


_NONE = object()
_followers: weakref.WeakSet[LevelFollower] = weakref.WeakSet()


_FORK_IMPORT_WAIT = 10.0


def _before_fork() -> None:
    deadline = time.monotonic() + _FORK_IMPORT_WAIT
    for follower in list(_followers):
        follower._imported.wait(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    for follower in list(_followers):
        follower.after_fork()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
