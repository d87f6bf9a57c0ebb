"""``kafkalog check`` against real brokers: one test per outcome, each through the command as users run it.

Exit codes (docs/check.md): 0 all passed, 3 configuration, 4 connection, 5 authentication, 6 topic, 7 round trip.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka_util import read_records
from support import unused_port

import pytest_kafkalog
from kafkalog.testing import LocalKafka

pytestmark = pytest.mark.integration

TRANSPORTS = ("kafka-python", "confluent")
MARGIN = 10.0  # seconds on top of --timeout: interpreter start, imports, a busy machine


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    elapsed: float

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def line(self, step: str) -> str:
        found = [line for line in self.lines if line.split(":", 1)[0].endswith(f" {step}")]
        assert found, f"no {step!r} line in:\n{self.out}{self.err}"
        return found[-1]


def check(*args: str, env: dict[str, str] | None = None, timeout: float = 20.0) -> Run:
    """Run ``kafkalog check`` in a fresh interpreter (``python -m kafkalog``, the installed command's twin)."""
    import os

    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "kafkalog", "check", "--timeout", str(timeout), *args],
                          capture_output=True, text=True, timeout=timeout + 60, env={**os.environ, **(env or {})},
                          check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - began)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_all_steps_pass_and_the_probe_is_a_kafkalog_record(kafka_bootstrap: str, kafka_topic: str,
                                                           kafka_records: pytest_kafkalog.RecordsReader,
                                                           transport: str) -> None:
    """Exit 0, one ok line per step; the probe record in the topic is a record as a handler ships it."""
    run = check("--bootstrap-servers", kafka_bootstrap, "--topic", kafka_topic, "--transport", transport)
    assert run.code == 0, run.out + run.err
    steps = [line.split(":", 1)[0] for line in run.lines[:-1]]
    assert steps == ["ok   config", "ok   connect", "ok   authenticate", "ok   topic", "ok   produce",
                     "ok   read back"], run.out
    assert "exists with 1 partition(s)" in run.line("topic")
    [probe] = kafka_records(kafka_topic, 1)
    assert probe["msg"].startswith("kafkalog check probe kafkalog-check-")
    assert probe["type"] == "info" and probe["logger"] == "kafkalog.check"


def test_a_topic_the_broker_creates_on_first_use_passes(kafka_bootstrap: str) -> None:
    """A missing topic passes when the broker creates topics (the suite's broker does): the probe creates it."""
    topic = pytest_kafkalog.topic_name("check-new-topic")
    run = check("--bootstrap-servers", kafka_bootstrap, "--topic", topic)
    assert run.code == 0, run.out + run.err
    assert "does not exist yet; the broker creates it on the first record" in run.line("topic")


def test_a_bad_option_is_a_config_failure_naming_it(kafka_bootstrap: str) -> None:
    """Exit 3 before any network step, and the line names the option and what is allowed."""
    run = check("--bootstrap-servers", kafka_bootstrap, "--topic", "t", "-X", "acks=7")
    assert run.code == 3, run.out + run.err
    assert run.lines[0].startswith("FAIL config: producer_config: acks=7 is not one of"), run.out
    assert "connect" not in run.out


def test_a_bad_option_in_a_config_file_is_a_config_failure(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The KafkaHandler of a dictConfig file is checked with KafkaLogConfig: exit 3 naming the option."""
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"version": 1, "handlers": {"kafka": {
        "class": "kafkalog.KafkaHandler", "bootstrap_servers": kafka_bootstrap, "topic": "t",
        "queue_max_records": 0}}}))
    run = check("--config", str(path))
    assert run.code == 3, run.out + run.err
    assert run.line("config").startswith("FAIL [handlers.kafka] config: queue_max_records: must be at least 1")


def _config_files(tmp_path: Path, bootstrap: str, topic: str) -> dict[str, Path]:
    handler = {"class": "kafkalog.KafkaHandler", "level": "INFO", "bootstrap_servers": bootstrap, "topic": topic,
               "static_fields": {"service": "billing"}, "on_error": "ext://builtins.print"}
    dict_config = {"version": 1, "handlers": {"console": {"class": "logging.StreamHandler"}, "kafka": handler},
                   "root": {"level": "INFO", "handlers": ["console", "kafka"]}}
    json_path = tmp_path / "logging.json"
    json_path.write_text(json.dumps(dict_config))
    yaml_path = tmp_path / "logging.yaml"
    yaml_path.write_text(json.dumps(dict_config))  # JSON is YAML
    ini_path = tmp_path / "logging.ini"
    ini_path.write_text(f"""
[loggers]
keys=root
[handlers]
keys=console,kafka
[formatters]
keys=
[logger_root]
level=INFO
handlers=console,kafka
[handler_console]
class=StreamHandler
args=(sys.stderr,)
[handler_kafka]
class=kafkalog.KafkaHandler
level=INFO
args=('{bootstrap}', '{topic}')
kwargs={{'static_fields': {{'service': 'billing'}}, 'close_timeout': 10.0}}
""")
    return {"json": json_path, "yaml": yaml_path, "ini": ini_path}


@pytest.mark.parametrize("kind", ["json", "yaml", "ini"])
def test_the_kafka_handler_of_a_config_file_is_checked(kafka_bootstrap: str, kafka_topic: str, tmp_path: Path,
                                                       kafka_records: pytest_kafkalog.RecordsReader,
                                                       kind: str) -> None:
    """dictConfig (JSON, YAML) and fileConfig (INI): its KafkaHandler's options, end to end; the rest ignored."""
    run = check("--config", str(_config_files(tmp_path, kafka_bootstrap, kafka_topic)[kind]))
    assert run.code == 0, run.out + run.err
    section = "handler_kafka" if kind == "ini" else "handlers.kafka"
    assert run.line("read back").startswith(f"ok   [{section}] read back:"), run.out
    [probe] = kafka_records(kafka_topic, 1)
    assert probe["service"] == "billing"  # the file's static_fields went into the probe


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_probe_gets_the_handlers_headers_key_and_redaction(kafka_bootstrap: str, kafka_topic: str,
                                                               tmp_path: Path, transport: str) -> None:
    """The probe is built and encoded by the handler's own code: the options that shape a record shape it."""
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"version": 1, "handlers": {"kafka": {
        "class": "kafkalog.KafkaHandler", "bootstrap_servers": kafka_bootstrap, "topic": kafka_topic,
        "transport": transport, "headers": {"team": "pay"}, "key": "{logger}",
        "redact": {"patterns": {"word": r"\bprobe\b"}}}}}))
    run = check("--config", str(path))
    assert run.code == 0, run.out + run.err
    [probe] = read_records(kafka_bootstrap, kafka_topic, 1)
    assert (probe.headers, probe.key) == ((("team", b"pay"),), b"kafkalog.check")
    assert probe.json()["msg"].startswith("kafkalog check [redacted:word] kafkalog-check-"), probe.json()


def test_a_config_file_without_a_kafka_handler_is_a_config_failure(tmp_path: Path) -> None:
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"version": 1, "handlers": {"console": {"class": "logging.StreamHandler"}}}))
    run = check("--config", str(path))
    assert run.code == 3, run.out + run.err
    assert "has no handler of class kafkalog.KafkaHandler" in run.line("config")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_nothing_listening_is_a_connection_failure(transport: str) -> None:
    port = unused_port()
    run = check("--bootstrap-servers", f"127.0.0.1:{port}", "--topic", "t", "--transport", transport)
    assert run.code == 4, run.out + run.err
    assert run.line("connect") == (f"FAIL connect: no bootstrap server accepts connections "
                                   f"(127.0.0.1:{port}: Connection refused)")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_black_hole_ends_within_the_timeout(black_hole: int, transport: str) -> None:
    """A listener that never answers: the check ends within --timeout (plus start-up), as a connection failure."""
    timeout = 4.0
    run = check("--bootstrap-servers", f"127.0.0.1:{black_hole}", "--topic", "t", "--transport", transport,
                timeout=timeout)
    assert run.code == 4, run.out + run.err
    assert run.line("connect").startswith(f"FAIL connect: 127.0.0.1:{black_hole} accepts connections but no Kafka "
                                          "broker answered")
    assert run.elapsed < timeout + MARGIN, run.elapsed


@pytest.fixture
def secure_kafka(secure_kafka: LocalKafka) -> LocalKafka:
    """The session's broker with SASL listeners next to PLAINTEXT (tests/conftest.py)."""
    if pytest_kafkalog.external_bootstrap() is not None:
        pytest.skip(f"{pytest_kafkalog.BOOTSTRAP_ENV} is set: the suite is not to start brokers")
    return secure_kafka


def _sasl_args(broker: LocalKafka, transport: str, mechanism: str) -> list[str]:
    user = broker.users[mechanism]
    return ["--bootstrap-servers", broker.bootstrap_for("SASL_PLAINTEXT"), "--topic", "sasl-check",
            "--transport", transport, "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", mechanism,
            "--sasl-username", user.name, "--sasl-password-env", "CHECK_PASSWORD"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_a_wrong_password_is_an_authentication_failure(secure_kafka: LocalKafka, transport: str,
                                                       mechanism: str) -> None:
    """Exit 5 with the reason; neither the wrong password nor the right one appears anywhere in the output."""
    wrong = "not-the-password-7c1e"
    run = check(*_sasl_args(secure_kafka, transport, mechanism), env={"CHECK_PASSWORD": wrong})
    assert run.code == 5, run.out + run.err
    assert run.line("authenticate").startswith("FAIL authenticate: auth_failed: "), run.out
    assert "ok   connect:" in run.out
    for secret in (wrong, secure_kafka.users[mechanism].password):
        assert secret not in run.out + run.err


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_right_password_passes_without_being_shown(secure_kafka: LocalKafka, transport: str) -> None:
    password = secure_kafka.users["PLAIN"].password
    run = check(*_sasl_args(secure_kafka, transport, "PLAIN"), env={"CHECK_PASSWORD": password})
    assert run.code == 0, run.out + run.err
    assert run.line("authenticate") == "ok   authenticate: SASL_PLAINTEXT PLAIN as 'alice'"
    assert password not in run.out + run.err


@pytest.fixture(scope="module")
def no_auto_create_kafka() -> Iterator[LocalKafka]:
    """A broker that does not create topics on first use (~3-5 s to start)."""
    if pytest_kafkalog.external_bootstrap() is not None:
        pytest.skip(f"{pytest_kafkalog.BOOTSTRAP_ENV} is set: the suite is not to start brokers")
    with LocalKafka(properties={"auto.create.topics.enable": "false"}) as broker:
        yield broker


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_missing_topic_the_broker_will_not_create_is_a_topic_failure(no_auto_create_kafka: LocalKafka,
                                                                        transport: str) -> None:
    run = check("--bootstrap-servers", no_auto_create_kafka.bootstrap, "--topic", "never-created",
                "--transport", transport)
    assert run.code == 6, run.out + run.err
    assert run.line("topic") == ("FAIL topic: 'never-created' does not exist, and the broker does not create "
                                 "topics on first use (auto.create.topics.enable=false): create it first")
    created = f"created-first-{transport}"
    no_auto_create_kafka.create_topic(created)
    run = check("--bootstrap-servers", no_auto_create_kafka.bootstrap, "--topic", created,
                "--transport", transport)
    assert run.code == 0, run.out + run.err


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_untrusted_certificate_is_an_authentication_failure(secure_kafka: LocalKafka, tmp_path: Path,
                                                               transport: str) -> None:
    """TLS against a CA file that does not vouch for the broker: exit 5, saying it was the handshake."""
    from kafkalog.testing import make_keystore

    untrusted = make_keystore(tmp_path, "untrusted").ca_file
    run = check("--bootstrap-servers", secure_kafka.bootstrap_for("SSL"), "--topic", "tls-check",
                "--transport", transport, "--security-protocol", "SSL", "--ssl-ca-file", str(untrusted))
    assert run.code == 5, run.out + run.err
    assert run.line("authenticate").startswith("FAIL authenticate: tls_error: TLS handshake failed"), run.out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_probe_the_broker_refuses_is_a_round_trip_failure(kafka_bootstrap: str,
                                                            kafka_topic_factory: pytest_kafkalog.TopicFactory,
                                                            transport: str) -> None:
    """A topic whose records may not exceed 100 bytes refuses the probe record: exit 7 with the reason."""
    topic = kafka_topic_factory(config={"max.message.bytes": "100"})
    run = check("--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--transport", transport)
    assert run.code == 7, run.out + run.err
    assert run.line("produce").startswith("FAIL produce: message_too_large: "), run.out
