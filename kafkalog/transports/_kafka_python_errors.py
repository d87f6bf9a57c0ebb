"""What kafka-python's errors mean to kafkalog: the one mapping from its exceptions to :class:`DeliveryError`
(reason code and retriability), and :func:`classify`, which reads the client's own log for what an
"Unable to bootstrap" really was (credentials, certificate)."""

from __future__ import annotations

import itertools

from .._client_noise import ClientLog
from ..errors import DeliveryError, Reason, is_retriable

_REASONS = {
    "MessageSizeTooLargeError": Reason.MESSAGE_TOO_LARGE,
    "RecordListTooLargeError": Reason.MESSAGE_TOO_LARGE,
    "KafkaTimeoutError": Reason.TIMEOUT,
    "InvalidTopicError": Reason.INVALID_TOPIC,
}


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    known = _REASONS.get(name)
    if known is not None:
        return known
    if "Authorization" in name:  # TopicAuthorizationFailedError, ClusterAuthorizationFailedError, ...
        return Reason.NOT_AUTHORIZED
    if "Authentication" in name or name.startswith("Sasl"):
        return Reason.AUTH_FAILED
    return Reason.BROKER_ERROR


def to_delivery_error(exc: BaseException) -> DeliveryError:
    """The one place a kafka-python exception becomes ours: retriable unless kafka-python says a retry cannot
    help, or the reason is one no retry fixes."""
    if isinstance(exc, DeliveryError):
        return exc
    reason = _reason(exc)
    retriable = is_retriable(reason, bool(getattr(exc, "retriable", True)))
    if isinstance(exc, (ValueError, TypeError)) and reason != Reason.AUTH_FAILED:
        reason, retriable = Reason.CONFIG_ERROR, False
    text = str(exc)
    name = type(exc).__name__
    return DeliveryError(reason, text if text.startswith(name) else f"{name}: {text}", retriable=retriable)


AUTH_MARKERS = ("authentication failed", "invalid username or password", "saslauthenticationfailed")
TLS_MARKERS = ("certificate_verify_failed", "certificate verify failed", "sslerror", "wrong version number")


# what kafka-python logs as it sends credentials over SASL_PLAINTEXT: SASL/PLAIN, and SCRAM's first message
_CREDENTIALS_SENT = ("sending username and password in the clear",
                     "exchanging credentials in the clear during sasl authentication")
_DISCONNECTED = "socket disconnected"
_GAVE_UP = "unable to bootstrap"  # the attempt's summary, logged last


def _closed_after_credentials(log: ClientLog, sasl_over_tls: bool) -> str | None:
    """The connection closed right after the SASL credentials went out (PLAIN, or SCRAM's exchange).

    The broker answers wrong credentials and then closes the connection; when both arrive together (a busy
    machine), kafka-python 3 drops the answer with the data it read before the close, and only "socket
    disconnected" is logged. A broker that fails right then could do the same, but far more rarely. Over TLS
    (``sasl_over_tls``) nothing is logged as the credentials go out: there, every connection of the attempt
    closing after its TLS handshake, and nothing else failing, reads the same way (seen with a wrong password
    under load: only disconnects, for minutes).
    """
    lines = [line.lower() for line in log.recent]
    for before, after in itertools.pairwise(lines):
        if _DISCONNECTED in after and any(sent in before for sent in _CREDENTIALS_SENT):
            return "the broker closed the connection right after the credentials were sent (invalid username " \
                   "or password?)"
    failures = [line for line in lines if ("failed" in line or _DISCONNECTED in line or "error" in line)
                and _GAVE_UP not in line]
    if sasl_over_tls and failures and all(_DISCONNECTED in line for line in failures) \
            and any("ssltransport" in line for line in failures):
        return "the broker closed every connection after the TLS handshake, before the login was answered " \
               "(invalid username or password?)"
    return None


def classify(error: DeliveryError, log: ClientLog, *, sasl_over_tls: bool = False) -> DeliveryError:
    """A clearer error than "Unable to bootstrap" when the client's log said why (credentials, certificate).

    ``sasl_over_tls``: the client logs in with SASL over TLS (``security_protocol="SASL_SSL"``)."""
    lowered_all = [(text, text.lower()) for text in (log.telling, log.first_error, log.last) if text]
    closed = _closed_after_credentials(log, sasl_over_tls) if error.reason == Reason.TIMEOUT else None
    if closed is not None and not any(m in low for _, low in lowered_all for m in AUTH_MARKERS + TLS_MARKERS):
        return DeliveryError(Reason.AUTH_FAILED, f"authentication failed (check the SASL settings): {closed}",
                             retriable=False)
    if error.reason != Reason.TIMEOUT or not lowered_all:
        return error
    for cause, lowered in lowered_all:
        if any(marker in lowered for marker in AUTH_MARKERS):
            return DeliveryError(Reason.AUTH_FAILED, f"authentication failed (check the SASL settings): {cause}",
                                 retriable=False)
        if any(marker in lowered for marker in TLS_MARKERS):
            return DeliveryError(Reason.TLS_ERROR, f"TLS handshake failed (check ssl_cafile and the broker "
                                              f"certificate): {cause}", retriable=False)
    return DeliveryError(Reason.BROKER_UNAVAILABLE, f"{error}; last connection error: {lowered_all[0][0]}",
                         retriable=True)
