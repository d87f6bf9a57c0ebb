"""Before reading: the connection, the login and the topic, checked by ``kafkalog check``'s own steps within the
run's ``timeout``, so a closed port, a wrong password or a missing topic end the run at once with the check's
plain message and exit code (4 connection, 5 authentication, 6 topic), whichever client reads."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .reader import ConsumeError, ReaderSettings


class Unreachable(ConsumeError):
    """The broker or the topic cannot be read: ``exit_code`` is ``kafkalog check``'s for the same failure;
    ``abandoned``: a step was still running at the deadline (its thread is left behind)."""

    def __init__(self, message: str, exit_code: int, abandoned: bool = False) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.abandoned = abandoned


def _connection(client: str, client_config: Mapping[str, Any]) -> dict[str, Any]:
    """The consumer options that say how to reach and log in (the same names for a producer of that client)."""
    if client == "confluent":
        from ..check._confluent import connection_settings as confluent_connection

        found = confluent_connection(client_config)
        found.pop("bootstrap.servers", None)
        found.pop("client.id", None)
        return found
    from ..check._kafka_python import connection_settings as kafka_python_connection

    found = kafka_python_connection(client_config)
    found.pop("bootstrap_servers", None)
    return found


def reach(settings: ReaderSettings, client: str) -> None:
    """Raise :class:`Unreachable` if the brokers, the login or the topic fail ``kafkalog check``'s steps."""
    from ..check import TOPIC, run_check

    options = {"bootstrap_servers": settings.bootstrap_servers, "topic": settings.topic, "transport": client,
               "producer_config": _connection(client, settings.client_config)}
    client_log = logging.getLogger("kafka")
    level = client_log.level
    client_log.setLevel(logging.NOTSET)  # kafka-python says a login was refused only in its log, which the check
    try:  # reads (and keeps from stderr); a command may have silenced that logger for its reading
        report = run_check(options, timeout=settings.timeout, through=TOPIC)
    finally:
        client_log.setLevel(level)
    failed = next((step for step in report.steps if not step.ok), None)
    if failed is not None:
        raise Unreachable(f"{failed.step}: {failed.detail}", failed.code, abandoned=not report.complete)
