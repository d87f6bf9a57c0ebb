"""How kafka-python's failures become kafkalog's reasons (no broker: the client's log lines are given)."""

from __future__ import annotations

import logging

import pytest

from kafkalog.errors import DeliveryError
from kafkalog.transports._kafka_python_errors import classify, to_delivery_error
from kafkalog.transports.kafka_python import AUTH_MARKERS, TLS_MARKERS, ClientLog

BOOTSTRAP_TIMEOUT = DeliveryError("timeout", "KafkaTimeoutError: Unable to bootstrap from ['127.0.0.1:9']",
                                  retriable=True)


def client_log(*lines: tuple[int, str]) -> ClientLog:
    log = ClientLog(AUTH_MARKERS + TLS_MARKERS)
    for level, text in lines:
        log.note(logging.LogRecord("kafka.net", level, __file__, 1, text, (), None))
    return log


class TestClassify:
    def test_authentication_error_logged(self) -> None:
        """The broker's answer reached the client: auth_failed, not retried."""
        log = client_log((logging.ERROR, "Connection lost: [Error 58] SaslAuthenticationFailedError: "
                                         "Authentication failed: Invalid username or password"))
        error = classify(BOOTSTRAP_TIMEOUT, log)
        assert (error.reason, error.retriable) == ("auth_failed", False)

    @pytest.mark.parametrize("sent", ["Sending username and password in the clear",
                                      "Exchanging credentials in the clear during Sasl Authentication"])
    def test_close_right_after_the_credentials_is_auth_failed(self, sent: str) -> None:
        """kafka-python lost the broker's answer (it came with the close): the close right after the PLAIN
        credentials, or during SCRAM's exchange, still reads as auth_failed (SCRAM was read as broker_unavailable
        under load: kafkalog check exited 4 instead of 5)."""
        log = client_log((logging.WARNING, sent),
                         (logging.ERROR, "<KafkaTCPTransport [127.0.0.1:1<-2]>: socket disconnected"),
                         (logging.WARNING, "Bootstrap connection to bootstrap-0 failed: KafkaConnectionError: "
                                           "socket disconnected (backoff 0.05 secs)"))
        error = classify(BOOTSTRAP_TIMEOUT, log)
        assert (error.reason, error.retriable) == ("auth_failed", False)
        assert "credentials" in str(error)

    DISCONNECTS_AFTER_TLS = (
        (logging.ERROR, "<KafkaSSLTransport [127.0.0.1:1<-2]>: socket disconnected"),
        (logging.ERROR, "<KafkaConnection node_id=bootstrap-0 (disconnected)>: Connection lost: "
                        "KafkaConnectionError: socket disconnected"),
        (logging.WARNING, "Task <kafka.net.selector.Task> ran for 0.102s (>0.100s threshold). It is blocking the "
                          "event loop"),
        (logging.WARNING, "Bootstrap connection to bootstrap-0 failed: KafkaConnectionError: socket disconnected "
                          "(backoff 0.06 secs)"),
        (logging.WARNING, "bootstrap bootstrap-0 not ready; waiting 0.39 secs"),
        (logging.ERROR, "Bootstrap failed: KafkaTimeoutError: Unable to bootstrap from ['127.0.0.1:1']"),
    )

    def test_sasl_over_tls_closed_after_the_handshake_is_auth_failed(self) -> None:
        """SASL_SSL with a wrong password under load: kafka-python logs nothing as the credentials go out, and
        drops the broker's refusal that comes with the close; every connection closing after TLS is the sign
        (it read as broker_unavailable, retried until delivery_timeout)."""
        error = classify(BOOTSTRAP_TIMEOUT, client_log(*self.DISCONNECTS_AFTER_TLS), sasl_over_tls=True)
        assert (error.reason, error.retriable) == ("auth_failed", False)
        assert "TLS handshake" in str(error)

    def test_closed_after_tls_without_sasl_or_with_other_failures_is_broker_unavailable(self) -> None:
        """Without SASL a close is no login refusal; a refused connection among them is a broker going away."""
        log = client_log(*self.DISCONNECTS_AFTER_TLS)
        assert classify(BOOTSTRAP_TIMEOUT, log).reason == "broker_unavailable"
        log.note(logging.LogRecord("kafka.net", logging.WARNING, __file__, 1,
                                   "Connection failed: KafkaConnectionError: 111 ECONNREFUSED", (), None))
        assert classify(BOOTSTRAP_TIMEOUT, log, sasl_over_tls=True).reason == "broker_unavailable"

    def test_refused_connection_is_broker_unavailable(self) -> None:
        """Nothing about credentials or certificates: the broker is unavailable, and that is retried."""
        log = client_log((logging.WARNING, "Connection failed: KafkaConnectionError: 111 ECONNREFUSED"))
        error = classify(BOOTSTRAP_TIMEOUT, log)
        assert (error.reason, error.retriable) == ("broker_unavailable", True)


class TestMapping:
    def test_topic_authorization_is_not_authorized(self) -> None:
        """TopicAuthorizationFailedError is not_authorized (not invalid_topic), not retried."""
        exc = type("TopicAuthorizationFailedError", (Exception,), {"retriable": False})("denied")
        error = to_delivery_error(exc)
        assert (error.reason, error.retriable) == ("not_authorized", False)

    def test_message_too_large_not_retried(self) -> None:
        exc = type("MessageSizeTooLargeError", (Exception,), {"retriable": True})("too big")
        assert to_delivery_error(exc).reason == "message_too_large"
        assert not to_delivery_error(exc).retriable
