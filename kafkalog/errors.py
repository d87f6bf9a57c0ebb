"""The library's exceptions. Configuration errors are ``ValueError``/``TypeError`` subclasses."""

from __future__ import annotations


class KafkaLogError(Exception):
    """Base class of every error kafkalog defines."""


class ConfigError(KafkaLogError, ValueError):
    """An option has a value that is not allowed; the message names the option and what is allowed."""


class ConfigTypeError(KafkaLogError, TypeError):
    """An option has the wrong type; the message names the option and the expected type."""


class MissingDependencyError(KafkaLogError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


class DeliveryError(KafkaLogError):
    """A record could not be delivered.

    ``reason`` is a short stable code used as the key of the ``dropped`` counters (``"message_too_large"``,
    ``"auth_failed"``, ``"timeout"``, ...). ``retriable`` says whether sending the same bytes again can succeed.
    """

    def __init__(self, reason: str, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.retriable = retriable

    def __repr__(self) -> str:
        return f"DeliveryError(reason={self.reason!r}, retriable={self.retriable}, message={str(self)!r})"
