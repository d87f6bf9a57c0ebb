"""The check's steps for one configuration, in order, each within what is left of one deadline.

connect and authenticate use the client library's admin client; the probe record is built, encoded and sent by
kafkalog's own code and transport (as a handler would send it, retries included), then read back.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable, Sequence

from .._messages import Messages
from .._records import RecordBuilder
from .._sender import as_delivery_error, send_once
from ..config import KafkaLogConfig
from ..errors import DeliveryError
from ..typing import Message
from ._steps import (
    AUTHENTICATE,
    CONFIG,
    CONNECT,
    EXIT_CONFIG,
    EXIT_CONNECTION,
    EXIT_ROUND_TRIP,
    EXIT_TOPIC,
    PRODUCE,
    READ_BACK,
    STEP_CODES,
    TOPIC,
    CheckFailed,
    Probe,
    StepResult,
    StepSink,
    failure_from,
)

_TCP_TIMEOUT = 5.0
_RETRY_PAUSE = 0.2
_CLOSE_TIMEOUT = 1.0
_NEW_TOPIC_WAIT = 1.0


class Deadline:
    """Seconds left of the whole check; a step that has none left fails with its own exit code."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self, step: str) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise CheckFailed(f"no time left of the check's --timeout {self.seconds:g} s", STEP_CODES[step])
        return remaining


def _probe_for(config: KafkaLogConfig) -> Probe:
    name = config.transport_spec.name
    if name == "kafka-python":
        from ._kafka_python import KafkaPythonProbe

        return KafkaPythonProbe(config.transport_settings)
    if name == "confluent":
        from ._confluent import ConfluentProbe

        return ConfluentProbe(config.transport_settings)
    raise CheckFailed(f"transport {name!r} cannot be checked; use 'kafka-python' or 'confluent'", EXIT_CONFIG)


def _reachable(servers: Sequence[str], deadline: Deadline) -> str:
    """The first server that accepts a TCP connection; CheckFailed naming why each did not."""
    why: list[str] = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)),
                                          timeout=min(_TCP_TIMEOUT, deadline.left(CONNECT))):
                return server
        except OSError as exc:
            why.append(f"{server}: {exc.strerror or type(exc).__name__}")
    raise CheckFailed(f"no bootstrap server accepts connections ({'; '.join(why)})", EXIT_CONNECTION)


def _authentication(config: KafkaLogConfig) -> str:
    """How the client logs in, in words (the user name is no secret; the password is never shown)."""
    settings = config.transport_settings
    protocol = str(settings.get("security_protocol", settings.get("security.protocol", "PLAINTEXT"))).upper()
    if not protocol.startswith("SASL"):
        return f"{protocol} (no SASL login)"
    mechanism = settings.get("sasl_mechanism", settings.get("sasl.mechanism", settings.get("sasl.mechanisms")))
    user = settings.get("sasl_plain_username", settings.get("sasl.username"))
    return f"{protocol} {mechanism} as {user!r}" if user else f"{protocol} {mechanism}"


def _probe_message(config: KafkaLogConfig, topic: str | None) -> tuple[Message, bytes]:
    """The record a handler of ``config`` would send for an INFO log call, carrying a unique marker: built and
    encoded by the handler's own code (:class:`~kafkalog._records.RecordBuilder`,
    :class:`~kafkalog._messages.Messages`: redaction, schema, size policy, topic, key and headers)."""
    marker = f"kafkalog-check-{uuid.uuid4().hex}"
    builder = RecordBuilder(host=config.host, default_action="check", static_fields=config.static_fields)
    record = logging.LogRecord("kafkalog.check", logging.INFO, __file__, 0, "kafkalog check probe %s", (marker,),
                               None, "check")
    event = builder.from_logging(record)
    messages = Messages(config, on_drop=_not_shipped, on_truncated=lambda: None)
    message = messages.message_for(event, record.created, topic)
    if message is None:  # on_drop raised already; for the type checker
        raise CheckFailed("the probe record cannot be sent", EXIT_CONFIG)
    if marker.encode() not in message.value:
        raise CheckFailed("the probe record's marker does not survive redaction or the cut to max_message_bytes, "
                          "so it could not be read back", EXIT_CONFIG)
    return message, marker.encode()


def _not_shipped(reason: str, message: str) -> None:
    raise CheckFailed(f"the probe record is not sent ({reason}): {message}", EXIT_CONFIG)


def _send(config: KafkaLogConfig, message: Message, deadline: Deadline) -> None:
    """Send through kafkalog's transport as the worker does (:func:`~kafkalog._sender.send_once`), retrying what
    the worker would retry, until sent or out of time."""
    transport = config.transport_spec.factory(config.transport_settings)
    try:
        transport.open()
        while True:
            outcome = send_once(transport, [message], deadline.left(PRODUCE))[0]
            if outcome is None:
                return
            error = as_delivery_error(outcome)
            if not error.retriable or deadline.end - time.monotonic() < _RETRY_PAUSE:
                raise error
            time.sleep(_RETRY_PAUSE)
    finally:
        try:
            transport.close(_CLOSE_TIMEOUT)
        except Exception:
            pass


def check_config(config: KafkaLogConfig, deadline: Deadline, emit: StepSink, *, topic: str | None = None,
                 source: str = "", through: str = READ_BACK) -> None:
    """Run the steps after ``config`` for one configuration; each outcome goes to ``emit`` as it is known.

    ``through=TOPIC`` stops after the topic step, which then fails if the topic does not exist: what a reader
    (``kafkalog consume``) needs before it reads, nothing written."""
    step = CONFIG

    def say(name: str, ok: bool, detail: str, code: int = 0) -> None:
        emit(StepResult(name, ok, config.scrub(detail), code, source))

    try:
        message, marker = _probe_message(config, topic)
    except CheckFailed as refused:
        say(CONFIG, False, refused.detail, refused.code)
        return
    except Exception as exc:  # a topic or key callable of the application's that fails on the probe record
        say(CONFIG, False, f"topic/key for the probe record: {type(exc).__name__}: {exc}; name one with --topic",
            EXIT_CONFIG)
        return
    if config.collector is not None:
        from ._collector import check_collector

        say(CONFIG, True, f"hands over to the collector at {config.collector} -> topic {message.topic!r}")
        check_collector(config, message, deadline.left, say)
        return
    say(CONFIG, True, f"transport {config.transport_spec.name}, {','.join(config.servers)} -> topic "
                      f"{message.topic!r}")
    probe: Probe | None = None
    try:
        probe = _probe_for(config)
        step = CONNECT
        server = _reachable(config.servers, deadline)
        try:
            cluster = probe.connect(deadline.left(CONNECT))
        except DeliveryError as error:
            failure = failure_from(error, EXIT_CONNECTION)
            if failure.code == EXIT_CONNECTION:
                failure = CheckFailed(f"{server} accepts connections but no Kafka broker answered (a TLS listener "
                                      f"spoken to in plaintext, or the wrong port?): {failure.detail}", failure.code)
            else:
                say(CONNECT, True, f"{server} accepts connections")
                step = AUTHENTICATE
            raise failure from error
        say(CONNECT, True, f"{server} answered: {cluster}")
        say(AUTHENTICATE, True, _authentication(config))

        step = TOPIC
        partitions = probe.partitions(message.topic, deadline.left(TOPIC))
        if not partitions and through == TOPIC:
            partitions = _existing(probe, message.topic, deadline)
        start: dict[int, int] = {}
        if partitions:
            say(TOPIC, True, f"{message.topic!r} exists with {len(partitions)} partition(s)")
            if through == TOPIC:
                return
            start = probe.end_offsets(message.topic, partitions, deadline.left(TOPIC))
        else:
            _topic_missing(config, probe, message.topic, deadline, say)

        step = PRODUCE
        began = time.monotonic()
        try:
            _send(config, message, deadline)
        except DeliveryError as error:
            failure = failure_from(error, EXIT_ROUND_TRIP)
            if not partitions and failure.code == EXIT_ROUND_TRIP:  # the broker never made the topic
                failure = CheckFailed(f"{message.topic!r} was not created: {failure.detail}", EXIT_TOPIC)
            raise failure from error
        say(PRODUCE, True, f"probe record delivered to {message.topic!r} in {time.monotonic() - began:.1f} s")

        step = READ_BACK
        began = time.monotonic()
        found = probe.find(message.topic, start, marker, deadline.left(READ_BACK))
        if found is None:
            raise CheckFailed(f"the probe record was not read back within the check's --timeout "
                              f"{deadline.seconds:g} s", EXIT_ROUND_TRIP)
        say(READ_BACK, True, f"probe record read back from partition {found[0]} offset {found[1]} in "
                             f"{time.monotonic() - began:.1f} s")
    except CheckFailed as failure:
        say(step, False, failure.detail, failure.code)
    except DeliveryError as error:
        mapped = failure_from(error, STEP_CODES[step])
        say(step, False, mapped.detail, mapped.code)
    except Exception as exc:  # a client error the probe did not map: still this step's failure, with its name
        say(step, False, f"{type(exc).__name__}: {exc}", STEP_CODES[step])
    finally:
        if probe is not None:
            probe.close()


def _existing(probe: Probe, topic: str, deadline: Deadline) -> Sequence[int]:
    """The topic's partitions, asked again for a moment (one created just now may not be in the metadata yet);
    CheckFailed if it does not exist: a reader has nothing to read."""
    until = min(deadline.end, time.monotonic() + _NEW_TOPIC_WAIT)
    while time.monotonic() < until:
        time.sleep(_RETRY_PAUSE)
        partitions = probe.partitions(topic, deadline.left(TOPIC))
        if partitions:
            return partitions
    raise CheckFailed(f"{topic!r} does not exist", EXIT_TOPIC)


def _topic_missing(config: KafkaLogConfig, probe: Probe, topic: str, deadline: Deadline,
                   say: Callable[..., None]) -> None:
    """A missing topic passes only if the producer may ask for it and the broker may create it."""
    settings = config.transport_settings
    if settings.get("allow_auto_create_topics", settings.get("allow.auto.create.topics", True)) is False:
        raise CheckFailed(f"{topic!r} does not exist, and the producer config does not let the broker create it",
                          EXIT_TOPIC)
    auto = probe.auto_create(deadline.left(TOPIC))
    if auto is False:
        raise CheckFailed(f"{topic!r} does not exist, and the broker does not create topics on first use "
                          "(auto.create.topics.enable=false): create it first", EXIT_TOPIC)
    said = "the broker creates it" if auto else "the broker may create it (its setting could not be read)"
    say(TOPIC, True, f"{topic!r} does not exist yet; {said} on the first record")
