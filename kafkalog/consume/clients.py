"""Picking the client: each reader module is imported only when asked for (so is its client library)."""

from __future__ import annotations

from .reader import Reader, ReaderSettings

AUTO = "auto"


def resolve_client(name: str, *, client_options: bool) -> str:
    """The client ``--transport`` names. ``auto`` (the command's default) is ``confluent`` when confluent-kafka can
    be imported (librdkafka reads several times faster), else ``kafka-python`` (always installed). Consumer
    options (``--consumer-config``, ``-X``) are in one client's own names: under ``auto`` they are read as
    kafka-python's, as they were before ``auto`` existed, so with them ``auto`` is ``kafka-python``."""
    if name != AUTO:
        return name
    if client_options:
        return "kafka-python"
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return "kafka-python"
    return "confluent"


def open_reader(client: str, settings: ReaderSettings) -> Reader:
    """A reader of the named client (``kafka-python`` or ``confluent``), imported only when asked for."""
    if client == "confluent":
        from ._confluent import ConfluentReader

        return ConfluentReader(settings)
    from ._kafka_python import KafkaPythonReader

    return KafkaPythonReader(settings)


def check_options(client: str, settings: ReaderSettings) -> None:
    """The consumer options' names, checked before anything connects: a misspelt one is reported at once, with
    the closest name the client knows, instead of after the connection steps."""
    if client == "confluent":
        from ._confluent import check_names
    else:
        from ._kafka_python import check_names
    check_names(settings.client_config)
