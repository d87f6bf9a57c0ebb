"""structlog with kafkalog, both ways, with request context and OpenTelemetry trace ids.

    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=app-logs python examples/structlog_app.py [native|stdlib]

``native`` (the default): ``kafkalog.KafkaProcessor`` in structlog's processor chain; no stdlib logger involved.
``stdlib``: structlog renders to ``logging`` keyword arguments (``render_to_log_kwargs``) and a ``KafkaHandler``
ships them. Either way each record's ``fields`` hold the bound values, the call's keyword arguments and what
``structlog.contextvars`` and ``kafkalog.bound`` hold for the current request; inside an OpenTelemetry span
(when opentelemetry-sdk is installed) the records carry ``trace_id`` and ``span_id``. Nothing needs closing: the
exit hook sends what is queued.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

import kafkalog

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
TOPIC = os.environ.get("KAFKA_TOPIC", "app-logs")
SHARED = [structlog.contextvars.merge_contextvars]  # puts structlog.contextvars values in each event


def configure_native() -> None:
    """KafkaProcessor ships each event, then the console renderer prints it as before."""
    kafka = kafkalog.KafkaProcessor(BOOTSTRAP, TOPIC, static_fields={"service": "checkout"}, key="trace_id")
    structlog.configure(processors=[*SHARED, structlog.processors.add_log_level, kafka,
                                    structlog.processors.TimeStamper(fmt="iso"),
                                    structlog.dev.ConsoleRenderer(colors=False)])


def configure_stdlib() -> None:
    """structlog hands its events to the stdlib logger, whose KafkaHandler ships them."""
    handler = kafkalog.KafkaHandler(BOOTSTRAP, TOPIC, static_fields={"service": "checkout"}, key="trace_id")
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    structlog.configure(processors=[*SHARED, structlog.stdlib.render_to_log_kwargs],
                        logger_factory=structlog.stdlib.LoggerFactory(),
                        wrapper_class=structlog.stdlib.BoundLogger)


def handle_request(request_id: str, user: str) -> None:
    """One request: its id bound for everything logged while it runs, then two events, one with an exception."""
    structlog.contextvars.bind_contextvars(request_id=request_id)
    log = structlog.get_logger("checkout.api").bind(user=user)
    with kafkalog.bound(tenant="acme"):
        log.info("cart priced", items=3, total=42.5)
        try:
            {}["card"]
        except KeyError:
            log.exception("payment failed", provider="acme-pay")
    structlog.contextvars.clear_contextvars()


def main(mode: str) -> None:
    configure_native() if mode == "native" else configure_stdlib()
    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        handle_request("r-1", "alice")
        return
    tracer = TracerProvider().get_tracer("checkout")
    with tracer.start_as_current_span("POST /checkout"):
        handle_request("r-1", "alice")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "native")
