"""``kafkalog check`` without a broker: KafkaHandler options found in logging config files, overrides, and the
report's exit code. The network steps are tested against real brokers (tests/integration/test_check.py)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from kafkalog import KafkaHandler
from kafkalog.check import run_check
from kafkalog.check._sources import handlers_in_file, merged
from kafkalog.check._steps import EXIT_CONFIG, CheckReport, StepResult
from kafkalog.errors import ConfigError


def _dict_config(tmp_path: Path, handlers: dict[str, object], name: str = "logging.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"version": 1, "handlers": handlers}))
    return path


def test_dict_config_finds_kafka_handlers_only_with_ext_values_resolved(tmp_path: Path) -> None:
    path = _dict_config(tmp_path, {
        "console": {"class": "logging.StreamHandler"},
        "kafka": {"class": "kafkalog.KafkaHandler", "level": "INFO", "formatter": "x", "filters": [],
                  "bootstrap_servers": "h:1", "topic": "t", "on_error": "ext://builtins.print",
                  "static_fields": {"service": "billing"}},
        "audit": {"()": "kafkalog.handler.KafkaHandler", "bootstrap_servers": "h:2", "topic": "audit"},
    })
    found = {h.source: h.options for h in handlers_in_file(path)}
    assert found == {
        "handlers.kafka": {"bootstrap_servers": "h:1", "topic": "t", "on_error": print,
                           "static_fields": {"service": "billing"}},
        "handlers.audit": {"bootstrap_servers": "h:2", "topic": "audit"},
    }


def test_a_subclass_of_kafka_handler_counts_another_handler_does_not(tmp_path: Path) -> None:
    path = _dict_config(tmp_path, {
        "k": {"class": f"{__name__}.AppKafkaHandler", "bootstrap_servers": "h:1", "topic": "t"},
        "other": {"class": f"{__name__}.OtherHandler", "bootstrap_servers": "h:1", "topic": "t"},
        "unimportable": {"class": "no_such_module.Handler"}})
    assert [h.source for h in handlers_in_file(path)] == ["handlers.k"]


def test_yaml(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "logging.yaml"
    path.write_text("version: 1\nhandlers:\n  kafka:\n    class: kafkalog.KafkaHandler\n"
                    "    bootstrap_servers: h:1\n    topic: logs\n    producer_config: {acks: all}\n")
    [found] = handlers_in_file(path)
    assert found.options == {"bootstrap_servers": "h:1", "topic": "logs", "producer_config": {"acks": "all"}}


def test_file_config_args_and_kwargs_as_file_config_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "logging.ini"
    path.write_text("[handlers]\nkeys=console, kafka\n[handler_console]\nclass=StreamHandler\nargs=(sys.stderr,)\n"
                    "[handler_kafka]\nclass=kafkalog.KafkaHandler\nlevel=INFO\nargs=('h:1', 'logs')\n"
                    "kwargs={'close_timeout': 10.0, 'level': 'INFO'}\n")
    [found] = handlers_in_file(path)
    assert found.source == "handler_kafka"
    assert found.options == {"bootstrap_servers": "h:1", "topic": "logs", "close_timeout": 10.0}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("missing.json", None, "cannot read"),
    ("bad.json", "{", "is not valid JSON"),
    ("list.json", "[]", "holds a list, not a dictConfig mapping"),
    ("none.json", '{"version": 1}', "has no handler of class kafkalog.KafkaHandler"),
    ("bad.ini", "[handlers]\nkeys=k\n[handler_k]\nclass=kafkalog.KafkaHandler\nargs=(\n", "cannot be evaluated"),
])
def test_unreadable_files_are_config_errors(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        handlers_in_file(path)


def test_command_line_options_override_and_producer_config_merges() -> None:
    assert merged({"topic": "a", "producer_config": {"acks": "all", "linger_ms": 5}},
                  {"topic": "b", "producer_config": {"acks": 1}}) == {
        "topic": "b", "producer_config": {"acks": 1, "linger_ms": 5}}


def test_a_bad_option_fails_the_config_step_without_its_secret() -> None:
    """Exit 3, the option named; a secret value in the options never reaches the report."""
    report = run_check({"bootstrap_servers": "h:1", "topic": "t", "producer_config": {
        "sasl_plain_password": "hunter2-secret", "security_protocol": "SASL_SSL"}}, timeout=5)
    assert report.exit_code == EXIT_CONFIG
    [step] = report.steps
    assert step.line().startswith("FAIL config: producer_config"), step.line()
    assert step.line().endswith("needs sasl_mechanism"), step.line()
    assert "hunter2" not in step.line()


def test_the_first_failure_decides_the_exit_code() -> None:
    report = CheckReport((StepResult("config", True, ""), StepResult("topic", False, "", 6),
                          StepResult("read back", False, "", 7)))
    assert (report.ok, report.exit_code) == (False, 6)
    assert CheckReport((StepResult("config", True, ""),)).exit_code == 0


class AppKafkaHandler(KafkaHandler):  # resolved by name in a test above
    pass


class OtherHandler(logging.Handler):  # resolved by name in a test above: not a KafkaHandler
    pass


class _Hanging:
    """A client whose connect never returns, like one stuck in a call that ignores its timeout."""

    def __init__(self, settings: object) -> None:
        self.release = threading.Event()

    def connect(self, timeout: float) -> str:
        self.release.wait(60)
        return "late"

    def close(self) -> None:
        self.release.set()


def test_a_step_that_never_returns_fails_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline holds even when a client call does not: the running step fails with its own exit code."""
    from kafkalog.check import _run

    made: list[_Hanging] = []
    monkeypatch.setattr(_run, "_probe_for", lambda config: made.append(_Hanging(config)) or made[-1])
    with socket.socket() as listener:  # accepts connections: the check gets as far as the client
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        began = time.monotonic()
        report = run_check({"bootstrap_servers": f"127.0.0.1:{port}", "topic": "t"}, timeout=1.0)
        elapsed = time.monotonic() - began
    for probe in made:
        probe.release.set()  # let the abandoned step end
    assert not report.complete
    assert report.steps[-1].line() == "FAIL connect: did not finish within the check's --timeout 1 s"
    assert report.exit_code == 4
    assert elapsed < 1.0 + 5.0, elapsed


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--topic", "t"], "-b/--bootstrap-servers is required without --config"),
    (["check", "--bootstrap-servers", "h:1", "--topic", "t", "--sasl-password-env", "KAFKALOG_NO_SUCH_VAR"],
     "$KAFKALOG_NO_SUCH_VAR is not set"),
])
def test_command_line_mistakes_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from kafkalog.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_command_line_flags_become_handler_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only flags given become options (a config file's own stay otherwise); passwords from the environment."""
    from kafkalog.cli import build_parser
    from kafkalog.cli.check import _options

    monkeypatch.setenv("CHECK_PW", "pw-from-env")
    args = build_parser().parse_args([
        "check", "--bootstrap-servers", "h:1", "--topic", "t", "--transport", "confluent", "--security-protocol",
        "SASL_SSL", "--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--sasl-password-env", "CHECK_PW",
        "--ssl-ca-file", "ca.pem", "--acks", "1", "--compression", "gzip", "-X", "linger.ms=20",
        "-X", "client.id=app"])
    assert _options(args) == {
        "bootstrap_servers": "h:1", "topic": "t", "transport": "confluent", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "pw-from-env", "ssl_ca_file": "ca.pem",
        "acks": 1, "compression": "gzip", "producer_config": {"linger.ms": 20, "client.id": "app"}}
    assert _options(build_parser().parse_args(["check", "--config", "f.json"])) == {}


def test_a_topic_callable_that_fails_on_the_probe_is_a_config_failure() -> None:
    def topic(event: dict[str, object]) -> str:
        raise KeyError("tenant")

    report = run_check({"bootstrap_servers": "127.0.0.1:9", "topic": topic}, timeout=5)
    assert report.exit_code == 3
    assert report.steps[-1].line() == ("FAIL config: topic/key for the probe record: KeyError: 'tenant'; name one "
                                       "with --topic")


def test_a_transport_not_installed_is_a_configuration_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """transport='confluent' without confluent-kafka: the config step fails with the install hint (exit 3), not
    as an internal error of the check."""
    import sys

    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import confluent_kafka raises ImportError
    report = run_check({"bootstrap_servers": "127.0.0.1:9", "topic": "t", "transport": "confluent"}, timeout=10)
    [step] = report.steps
    assert (step.step, step.ok, report.exit_code) == ("config", False, EXIT_CONFIG)
    assert step.detail.startswith("transport='confluent' needs the confluent-kafka package: pip install")
