"""Exceptions raised by the local test broker and cluster."""

from __future__ import annotations


class KafkaBrokerError(RuntimeError):
    """Fetching, starting or driving the local test broker failed."""


class MissingToolError(KafkaBrokerError):
    """A program the broker needs (``java``, ``mvn``, ``keytool``) is not installed; ``tool`` names it."""

    def __init__(self, tool: str, purpose: str) -> None:
        super().__init__(f"`{tool}` was not found on PATH; it is needed to {purpose}")
        self.tool = tool


class JarFetchError(KafkaBrokerError):
    """Maven could not fetch the broker's jars; the message ends with Maven's output."""


class BrokerStartError(KafkaBrokerError):
    """The broker did not become ready; the message ends with the tail of its logs."""


class PortInUseError(BrokerStartError):
    """Internal: the JVM exited because a port was taken (retried with new ports when they were ours to pick)."""
