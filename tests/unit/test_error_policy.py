"""The error map: one policy of what is retriable and what the spool keeps (errors.py), reason constants only."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import kafkalog
from kafkalog.errors import Reason, is_retriable
from kafkalog.transports import _confluent_errors, _kafka_python_errors

PACKAGE = Path(kafkalog.__file__).parent
REASON_CALLS = frozenset({"DeliveryError", "drop", "report", "_report", "_report_drop", "count_drop"})


class _LibrdkafkaError:
    """A stand-in for confluent_kafka.KafkaError that insists it is retriable."""

    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return "stand-in"

    def retriable(self) -> bool:
        return True


class TestPolicy:
    @pytest.mark.parametrize("name, reason", [("MSG_SIZE_TOO_LARGE", Reason.MESSAGE_TOO_LARGE),
                                              ("_INVALID_ARG", Reason.CONFIG_ERROR),
                                              ("TOPIC_AUTHORIZATION_FAILED", Reason.NOT_AUTHORIZED),
                                              ("SASL_AUTHENTICATION_FAILED", Reason.AUTH_FAILED),
                                              ("_UNKNOWN_TOPIC", Reason.INVALID_TOPIC)])
    def test_confluent_never_retries_what_the_policy_says_no_retry_fixes(self, name: str, reason: str) -> None:
        """librdkafka saying "retriable" does not override kafkalog's policy (Reason.NOT_RETRIABLE)."""
        error = _confluent_errors.to_delivery_error(_LibrdkafkaError(name))
        assert (error.reason, error.retriable) == (reason, False)

    @pytest.mark.parametrize("exc, reason", [(type("MessageSizeTooLargeError", (Exception,), {"retriable": True})(),
                                              Reason.MESSAGE_TOO_LARGE),
                                             (ValueError("bad setting"), Reason.CONFIG_ERROR),
                                             (type("SaslAuthenticationFailedError", (Exception,), {})(),
                                              Reason.AUTH_FAILED)])
    def test_kafka_python_never_retries_what_the_policy_says_no_retry_fixes(self, exc: Any, reason: str) -> None:
        """The kafka-python map follows the same policy: same reasons, same answer."""
        error = _kafka_python_errors.to_delivery_error(exc)
        assert (error.reason, error.retriable) == (reason, False)

    def test_the_spool_keeps_config_errors_but_not_errors_about_the_records(self) -> None:
        """A setting the client refused is fixed by a restart (kept); a record too large or a denied topic is not."""
        assert Reason.CONFIG_ERROR in Reason.KEPT_BY_SPOOL and Reason.AUTH_FAILED in Reason.KEPT_BY_SPOOL
        assert not Reason.KEPT_BY_SPOOL & {Reason.MESSAGE_TOO_LARGE, Reason.NOT_AUTHORIZED, Reason.INVALID_TOPIC}
        assert not is_retriable(Reason.CONFIG_ERROR, True) and is_retriable(Reason.BROKER_ERROR, True)


def _reason_literals(path: Path) -> list[str]:
    """Reason strings written as literals where a reason is passed (DeliveryError, drop, report, ...)."""
    values = {value for name, value in vars(Reason).items() if name.isupper() and isinstance(value, str)}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if name in REASON_CALLS and isinstance(first, ast.Constant) and first.value in values:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {first.value!r}")
        elif isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value in values
                                                   for c in node.comparators):
            target = ast.unparse(node.left)
            if "reason" in target:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_reason_is_spelled_outside_errors_py() -> None:
    """Every reason passed or compared is a Reason constant: one spelling of each, in errors.py."""
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "errors.py"
             for hit in _reason_literals(path)]
    assert found == []
