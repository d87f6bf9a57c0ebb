"""The narrow interface the session reads through, one implementation per client, and the error it raises."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from .._secrets import masked, scrub
from .positions import Start

CLIENTS = ("kafka-python", "confluent")


class ConsumeError(Exception):
    """Reading cannot go on (no broker, no such topic, a refused commit); the text is safe to print."""


def _none() -> str | None:
    return None


@contextmanager
def client_errors(doing: str, secrets: Sequence[str], *, fatal: Callable[[], str | None] = _none,
                  missing: str | None = None) -> Iterator[None]:
    """Every client error while ``doing``, raised as :class:`ConsumeError` with the secrets taken out.

    ``fatal()`` is what the client reported by callback instead of raising (it ends the run too, and its text
    wins); ``missing`` is the message for the client's package not being installed.
    """
    try:
        yield
    except ConsumeError:
        raise
    except Exception as exc:  # the clients raise many kinds; each ends the run with its text
        if missing is not None and isinstance(exc, ImportError):
            raise ConsumeError(missing) from None
        text = fatal() or scrub(f"{type(exc).__name__}: {exc}", secrets)
        raise ConsumeError(f"{doing}: {text}") from None
    reported = fatal()
    if reported is not None:
        raise ConsumeError(f"{doing}: {reported}")


class Message(NamedTuple):
    """One Kafka message as the session sees it."""

    partition: int
    offset: int
    timestamp: int  # ms since the epoch, -1 when unknown
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, repr=False)
class ReaderSettings:
    """What a reader is opened with. ``client_config`` uses the client's own option names; ``secrets`` are the
    values to keep out of every message."""

    bootstrap_servers: str
    topic: str
    start: Start
    group: str | None = None
    client_config: Mapping[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    timeout: float = 30.0

    def __repr__(self) -> str:  # secrets never show: client_config masked, secrets left out
        return (f"ReaderSettings(bootstrap_servers={self.bootstrap_servers!r}, topic={self.topic!r}, "
                f"start={self.start!r}, group={self.group!r}, client_config={masked(self.client_config)!r}, "
                f"timeout={self.timeout!r})")

    def refuse(self, owned: Sequence[str]) -> None:
        """Raise if ``client_config`` sets one of the options the reader must own (group, commits, decoding)."""
        clash = sorted(k for k in self.client_config if k in owned)
        if clash:
            raise ConsumeError(f"consumer config: {clash} cannot be set there (kafkalog consume sets them)")


class Reader(Protocol):
    """A consumer assigned to every partition of one topic, positioned by :meth:`open`."""

    def open(self) -> dict[int, int]:
        """Assign and seek; return each partition's end offset as of now."""

    def poll(self, timeout: float) -> Sequence[Message]:
        """The next messages, in offset order per partition; empty after ``timeout`` seconds without any."""

    def position(self, partition: int) -> int:
        """The offset of the next message this reader will return for ``partition``."""

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit ``partition -> next offset`` for the group (blocking, at most the reader's timeout)."""

    def close(self) -> None: ...
