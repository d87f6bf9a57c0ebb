"""What a check reports: its steps, their outcomes, and the exit code each kind of failure maps to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from ..errors import DeliveryError, Reason

EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_USAGE: Final = 2  # argparse's own code for a bad command line
EXIT_CONFIG: Final = 3
EXIT_CONNECTION: Final = 4
EXIT_AUTHENTICATION: Final = 5
EXIT_TOPIC: Final = 6
EXIT_ROUND_TRIP: Final = 7

EXIT_CODES: Final = {
    EXIT_OK: "every step passed",
    EXIT_INTERNAL: "the check itself failed (a bug: please report it)",
    EXIT_USAGE: "bad command line",
    EXIT_CONFIG: "configuration: an option, or the config file",
    EXIT_CONNECTION: "connection: nothing listening, or no answer from the broker in time",
    EXIT_AUTHENTICATION: "authentication: SASL credentials or TLS",
    EXIT_TOPIC: "topic: missing and not created, or not authorized",
    EXIT_ROUND_TRIP: "round trip: the probe record was not delivered, or not read back in time",
}

# The steps, in order, with the exit code of their failure.
CONFIG: Final = "config"
CONNECT: Final = "connect"
AUTHENTICATE: Final = "authenticate"
TOPIC: Final = "topic"
PRODUCE: Final = "produce"
READ_BACK: Final = "read back"
STEP_CODES: Final = {CONFIG: EXIT_CONFIG, CONNECT: EXIT_CONNECTION, AUTHENTICATE: EXIT_AUTHENTICATION,
                     TOPIC: EXIT_TOPIC, PRODUCE: EXIT_ROUND_TRIP, READ_BACK: EXIT_ROUND_TRIP}


@dataclass(frozen=True)
class StepResult:
    """One line of the report: ``ok`` or ``FAIL``, the step, and what was found (never a secret)."""

    step: str
    ok: bool
    detail: str
    code: int = EXIT_OK
    source: str = ""  # which handler of a config file, if there are several

    def line(self) -> str:
        where = f"[{self.source}] " if self.source else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {where}{self.step}: {self.detail}"


@dataclass(frozen=True)
class CheckReport:
    """Every step that ran, in order; the exit code is the first failure's (0 when all passed)."""

    steps: tuple[StepResult, ...]
    complete: bool = True  # False when a step was still running at the deadline (its thread is left behind)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def exit_code(self) -> int:
        return next((step.code for step in self.steps if not step.ok), EXIT_OK)


class CheckFailed(Exception):
    """Raised inside a step: the step fails with ``detail`` and the exit code ``code``."""

    def __init__(self, detail: str, code: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def failure_from(error: DeliveryError, step_code: int) -> CheckFailed:
    """A delivery error as the failure of a step: credentials and TLS are authentication, authorization is the
    topic's, an outage is the connection's, whatever step met them; anything else keeps the step's own code."""
    if error.reason in (Reason.AUTH_FAILED, Reason.TLS_ERROR):
        code = EXIT_AUTHENTICATION
    elif error.reason in (Reason.NOT_AUTHORIZED, Reason.INVALID_TOPIC):
        code = EXIT_TOPIC
    elif error.reason == Reason.BROKER_UNAVAILABLE and step_code < EXIT_TOPIC:
        code = EXIT_CONNECTION
    else:
        code = step_code
    return CheckFailed(f"{error.reason}: {error}", code)


StepSink = Callable[[StepResult], None]


class Probe(Protocol):
    """What the check needs from a client library, besides the kafkalog transport that sends the probe record.

    Every method takes the seconds it may use and raises :class:`CheckFailed` (or a ``DeliveryError``).
    """

    def connect(self, timeout: float) -> str:
        """Connect and authenticate (one metadata request); a description of the cluster."""

    def partitions(self, topic: str, timeout: float) -> Sequence[int] | None:
        """The topic's partitions, or None when it does not exist."""

    def auto_create(self, timeout: float) -> bool | None:
        """Whether the broker creates topics on first use (``auto.create.topics.enable``); None if it won't say."""

    def end_offsets(self, topic: str, partitions: Sequence[int], timeout: float) -> dict[int, int]:
        """Each partition's end offset: where records written from now on begin."""

    def find(self, topic: str, start: dict[int, int], marker: bytes, timeout: float) -> tuple[int, int] | None:
        """Read from ``start`` (partition -> offset; missing partitions from the beginning) until a record whose
        value contains ``marker`` shows up: its (partition, offset), or None when ``timeout`` passed."""

    def close(self) -> None:
        """Release the clients (never raises)."""
