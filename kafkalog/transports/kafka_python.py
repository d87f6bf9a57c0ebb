"""The default transport, over kafka-python 3.x (options: :mod:`._kafka_python_config`, errors:
:mod:`._kafka_python_errors`, laid out as the confluent transport is).

kafka-python is imported on the worker thread only. Its sharp edges are handled here: the constructor and
``send()`` block (bounded by ``bootstrap_timeout_ms``/``max_block_ms``, which we default low), ``close()`` can
raise and leave its network thread running, it registers its own exit hook (the worker's own hook is
re-registered after each producer so it runs first), and one non-retriable error leaves its idempotent producer
in a fatal state that fails every later record (the producer is then replaced).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .._client_noise import (
    ClientLog,
    capture_client_logs,
    capture_new_threads,
    quiet_client_warnings,
    release_client_logs,
)
from .._lifecycle import register_exit_hook
from ..errors import DeliveryError, Reason
from ..typing import Message
from ._kafka_python_config import (
    DEFAULTS,
    KNOWN_OPTIONS,
    OWNED_OPTIONS,
    check_client_version,
    installed_client_version,
    validate,
)
from ._kafka_python_errors import AUTH_MARKERS, TLS_MARKERS, classify, to_delivery_error
from ._registry import TransportSpec

__all__ = ["AUTH_MARKERS", "DEFAULTS", "KNOWN_OPTIONS", "OWNED_OPTIONS", "SPEC", "TLS_MARKERS", "KafkaPythonTransport",
           "check_client_version", "classify", "installed_client_version", "to_delivery_error", "validate"]
"""The probe interface (``kafkalog check`` drives its own admin and consumer clients): ``to_delivery_error`` (the one
mapping of kafka-python's exceptions), ``classify`` with ``AUTH_MARKERS``/``TLS_MARKERS`` (what the client's log
says an "Unable to bootstrap" was)."""

_YIELD_EVERY = 16
_CLIENT_MODULES = ("kafka",)


class KafkaPythonTransport:
    """One ``KafkaProducer``, created by :meth:`open` on the worker thread."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = dict(settings)
        self._producer: Any = None
        self._log = ClientLog(AUTH_MARKERS + TLS_MARKERS)
        self._threads: list[int] = []
        self._suspects: dict[int, Message] = {}  # failed in a batch that made the producer fatal (kept alive: id)

    def open(self) -> None:
        quiet_client_warnings(_CLIENT_MODULES)
        try:
            from kafka import KafkaProducer
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise DeliveryError(Reason.CONFIG_ERROR, "kafka-python is not installed (pip install kafka-python)",
                                retriable=False) from exc
        # What the client logs on this thread and on the threads it starts is ours (see _client_noise)
        self._threads = [threading.get_ident()]
        capture_client_logs("kafka", self._threads, self._log)
        started: list[int] = []
        try:
            with capture_new_threads("kafka", self._log) as started:
                self._producer = KafkaProducer(**self._settings)
        except Exception as exc:
            release_client_logs(self._threads + started)
            raise classify(to_delivery_error(exc), self._log,
                           sasl_over_tls=self._settings.get("security_protocol") == "SASL_SSL") from exc
        self._threads += started

    def _ensure_producer(self) -> DeliveryError | None:
        if self._producer is not None:
            return None
        try:  # replaced after a fatal error
            self.open()
        except Exception as exc:
            return to_delivery_error(exc)
        register_exit_hook()  # keep kafkalog's exit drain ahead of the new producer's own close hook
        return None

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        deadline = time.monotonic() + timeout
        results: list[BaseException | None] = [None] * len(messages)
        rest: list[int] = []
        for index, message in enumerate(messages):
            if self._suspects.pop(id(message), None) is not None:  # alone, so only the cause can fail again
                results[index] = self._send_batch([message], deadline, retry_fatal=False)[0]
            else:
                rest.append(index)
        if rest:
            for index, result in zip(rest, self._send_batch([messages[i] for i in rest], deadline), strict=True):
                results[index] = result
        return results

    def _send_batch(self, messages: Sequence[Message], deadline: float, *,
                    retry_fatal: bool = True) -> list[BaseException | None]:
        error = self._ensure_producer()
        if error is not None:
            return [error] * len(messages)
        producer = self._producer
        quiet_client_warnings(_CLIENT_MODULES)
        results: list[BaseException | None] = [None] * len(messages)
        futures: list[tuple[int, Any]] = []
        stuck: dict[str, DeliveryError] = {}  # topics whose metadata did not come within max_block_ms
        for index, message in enumerate(messages):
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                time.sleep(0)  # send() is ~20 µs of Python: hand the GIL to the app thread now and then
            blocked = stuck.get(message.topic)
            if blocked is not None:  # the same wait again for each record would add up; other topics still go
                results[index] = blocked
                continue
            try:
                headers = message.headers
                futures.append((index, producer.send(message.topic, value=message.value, key=message.key,
                                                     headers=list(headers) if headers else None,
                                                     timestamp_ms=message.timestamp_ms)))
            except Exception as exc:
                error = to_delivery_error(exc)
                results[index] = error
                if error.reason == Reason.TIMEOUT:
                    stuck[message.topic] = error
        for index, future in futures:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:
                results[index] = self._explain(to_delivery_error(exc))
        if _is_fatal(producer):
            self._replace_after_fatal(messages, results, retry_fatal)
        return results

    def _replace_after_fatal(self, messages: Sequence[Message], results: list[BaseException | None],
                             retry: bool) -> None:
        """One non-retriable error (say the broker refused a record as too large) left the idempotent producer
        fatal: it would fail every later record. Replace it. The records that failed with it cannot be told
        apart from the one that caused it, so each is retried once, alone (``retry``), with the new producer;
        one that fails alone keeps its error."""
        self.close(0.0)
        if not retry:
            return
        if len(self._suspects) > 1_000:  # a sender that gave up on them: forget (they are retried as usual)
            self._suspects.clear()
        for index, (message, result) in enumerate(zip(messages, results, strict=True)):
            if not isinstance(result, DeliveryError) or result.retriable:
                continue
            self._suspects[id(message)] = message
            results[index] = DeliveryError(Reason.TRANSPORT_ERROR, f"the producer was replaced after a fatal "
                                                                   f"error ({result}); retrying", retriable=True)

    def _explain(self, error: DeliveryError) -> DeliveryError:
        """Add what the client logged (kept off the console) to an error that does not say much by itself."""
        said = self._log.last
        if not said or error.reason not in (Reason.TIMEOUT, Reason.BROKER_ERROR) or said in str(error):
            return error
        return DeliveryError(error.reason, f"{error}; client log: {said}", retriable=error.retriable)

    def close(self, timeout: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            release_client_logs(self._threads)
            return
        try:
            producer.close(timeout=max(0.0, timeout))
        except Exception:
            # close() raised before stopping its network thread (records it could not deliver): stop it now,
            # without waiting, and mark it closed so its __del__ does not block for another second.
            sender = getattr(producer, "_sender", None)
            try:
                if sender is not None:
                    sender.force_close()
                producer._closed = True
            except Exception:
                pass
        finally:
            release_client_logs(self._threads)


def _is_fatal(producer: Any) -> bool:
    """Whether kafka-python's idempotent producer is in its fatal state (it then fails every send)."""
    manager = getattr(producer, "_transaction_manager", None)
    try:
        return bool(manager is not None and manager.has_fatal_error())
    except Exception:
        return False


def _build(settings: Mapping[str, Any]) -> KafkaPythonTransport:
    return KafkaPythonTransport(settings)


SPEC = TransportSpec("kafka-python", validate, _build, client_modules=("kafka",))
