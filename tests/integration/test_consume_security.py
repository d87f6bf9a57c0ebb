"""``kafkalog consume`` over SASL and TLS listeners, with the password taken from the environment; a refused
login ends the run within --timeout with ``kafkalog check``'s exit code 5 and an error that never shows the
password."""

from __future__ import annotations

import time

import pytest
from consume_util import consume, ndjson, seqs, ship

from kafkalog.testing import LocalKafka

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure_topic(secure_kafka: LocalKafka) -> str:
    from kafkalog.testing import create_topic

    create_topic(secure_kafka.bootstrap, "secure-logs", partitions=1)
    ship(secure_kafka.bootstrap, "secure-logs", 5)
    return "secure-logs"


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_reads_over_sasl_with_the_password_from_the_environment(secure_kafka: LocalKafka, secure_topic: str,
                                                                 client: str, protocol: str) -> None:
    user = secure_kafka.users["PLAIN"]
    tls = ["--ssl-ca-file", str(secure_kafka.ca_file)] if protocol == "SASL_SSL" else []
    result = consume(secure_kafka.bootstrap_for(protocol), secure_topic, "-o", "ndjson", "--transport", client,
                     "--security-protocol", protocol, "--sasl-mechanism", "PLAIN", "--sasl-username", user.name,
                     *tls, extra_env={"KAFKALOG_SASL_PASSWORD": user.password})
    assert result.returncode == 0, result.stderr
    assert seqs(ndjson(result.stdout)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_a_refused_login_exits_5_within_the_timeout_without_showing_the_password(
        secure_kafka: LocalKafka, secure_topic: str, client: str) -> None:
    wrong = "wrong-Pa55word-7f3a"
    began = time.monotonic()
    result = consume(secure_kafka.bootstrap_for("SASL_PLAINTEXT"), secure_topic, "--transport", client,
                     "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN",
                     "--sasl-username", secure_kafka.users["PLAIN"].name, "--timeout", "10",
                     extra_env={"KAFKALOG_SASL_PASSWORD": wrong}, timeout=120)
    took = time.monotonic() - began
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert result.stderr.startswith("kafkalog consume: authenticate: "), result.stderr
    assert wrong not in result.stderr and wrong not in result.stdout
    assert took < 10 + 10, took
