"""A misspelt name is reported with the closest known one, wherever a table of known names exists: the options of
KafkaLogConfig, the tail's TOML file, producer_config and consumer options of kafka-python."""

from __future__ import annotations

import pytest

from kafkalog import ConfigError, ConfigTypeError, KafkaLogConfig
from kafkalog._suggest import close_to
from kafkalog.consume.positions import Start
from kafkalog.consume.reader import ConsumeError, ReaderSettings
from kafkalog.tail._config import TailConfigError, parse_settings


@pytest.mark.parametrize(("name", "expected"), [
    ("topik", "topic"), ("bootstrap_server", "bootstrap_servers"), ("Bootstrap-Servers", "bootstrap_servers"),
    ("lingr", "linger"), ("whatever", None),
])
def test_close_to(name: str, expected: str | None) -> None:
    assert close_to(name, ["topic", "bootstrap_servers", "linger", "key"]) == expected


def test_config_names_the_unknown_option_before_the_missing_one() -> None:
    with pytest.raises(ConfigTypeError, match=r"^bootstrap_server: unknown option \(did you mean "
                                              r"'bootstrap_servers'\?\)"):
        KafkaLogConfig(bootstrap_server="h:1", topic="t")  # type: ignore[call-arg]
    with pytest.raises(ConfigTypeError, match=r"^bootstrap_servers is required \(e.g. "):
        KafkaLogConfig(topic="t")  # type: ignore[call-arg]


def test_tail_toml_names_the_closest_option_and_key() -> None:
    with pytest.raises(TailConfigError, match=r"kafkalog.compresion \(line 2\): unknown option \(did you mean "
                                              r"'compression'\?\)"):
        parse_settings('[kafkalog]\ncompresion = "gzip"\n[[inputs]]\npaths = ["/x"]\n', "t.toml")
    with pytest.raises(TailConfigError, match=r"inputs\[0\].path \(line 2\): unknown key \(did you mean 'paths'\?\)"):
        parse_settings('[[inputs]]\npath = ["/x"]\n', "t.toml")
    with pytest.raises(TailConfigError, match=r"kafkalog.bootstrap_servers \(line 2\): set by the agent"):
        parse_settings('[kafkalog]\nbootstrap_servers = "h:1"\n', "t.toml")


def test_producer_config_names_the_closest_kafka_python_option() -> None:
    with pytest.raises(ConfigError, match=r"unknown kafka-python option\(s\) \['linger.ms'\] \(did you mean "
                                          r"'linger_ms'\?\)"):
        KafkaLogConfig(bootstrap_servers="h:1", topic="t", producer_config={"linger.ms": 5})


def test_consumer_option_names_the_closest_kafka_python_option() -> None:
    from kafkalog.consume._kafka_python import KafkaPythonReader

    settings = ReaderSettings("127.0.0.1:9", "t", Start("beginning"), client_config={"fetch_max_wait": 5})
    with pytest.raises(ConsumeError, match=r"unknown kafka-python option\(s\) \['fetch_max_wait'\] \(did you mean "
                                           r"'fetch_max_wait_ms'\?\)"):
        KafkaPythonReader(settings)


def test_librdkafka_names_are_read_from_the_loaded_library() -> None:
    """The names come from librdkafka's own table (this platform can read it), split by client role."""
    pytest.importorskip("confluent_kafka")
    from kafkalog import _librdkafka_names as names

    producer, consumer = names.names("producer"), names.names("consumer")
    assert len(producer) > len([n for n, where in names._COMMON if where != "C"]) + 50  # not the short list
    assert {"bootstrap.servers", "linger.ms", "security.protocol"} <= set(producer)
    assert "fetch.wait.max.ms" in consumer and "fetch.wait.max.ms" not in producer
    assert "linger.ms" not in consumer


def test_librdkafka_names_fall_back_to_the_common_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from kafkalog import _librdkafka_names as names

    monkeypatch.setattr(names, "_read_table", lambda: None)
    names.names.cache_clear()
    try:
        assert names.hint('No such configuration property: "lingr.ms"', "producer") == " (did you mean 'linger.ms'?)"
        assert names.hint('No such configuration property: "lingr.ms"', "consumer") == ""
        assert names.hint("Invalid value for configuration property", "producer") == ""
    finally:
        names.names.cache_clear()


@pytest.mark.parametrize(("name", "expected"), [
    ("lingr.ms", "linger.ms"), ("linger_ms", "linger.ms"), ("compresion.type", "compression.type"),
    ("Bootstrap.Servers", "bootstrap.servers"),
])
def test_producer_config_names_the_closest_librdkafka_option(name: str, expected: str) -> None:
    pytest.importorskip("confluent_kafka")
    with pytest.raises(ConfigError, match=rf"^producer_config: unknown librdkafka option '{name}' \(did you mean "
                                          rf"'{expected}'\?\)"):
        KafkaLogConfig(bootstrap_servers="h:1", topic="t", transport="confluent", producer_config={name: 5})


def test_consumer_option_names_the_closest_librdkafka_option() -> None:
    pytest.importorskip("confluent_kafka")
    from kafkalog.consume._confluent import ConfluentReader

    settings = ReaderSettings("127.0.0.1:9", "t", Start("beginning"), client_config={"fetch.wait.mx.ms": 5})
    with pytest.raises(ConsumeError, match=r"^consumer config: unknown librdkafka option 'fetch.wait.mx.ms' \(did "
                                           r"you mean 'fetch.wait.max.ms'\?\)"):
        ConfluentReader(settings)


def test_a_lower_case_level_name_says_the_upper_case_one() -> None:
    """logging refuses level='info' with its own 'Unknown level' text; the handler names the option and the fix."""
    from kafkalog import KafkaHandler

    with pytest.raises(ConfigError, match=r"^level: 'info' is not a logging level name or number; names are upper "
                                          r"case: 'INFO'$"):
        KafkaHandler("h:1", "t", level="info", transport="memory")
    with pytest.raises(ConfigError, match=r"^level: 'LOUD' is not a logging level name or number$"):
        KafkaHandler("h:1", "t", level="LOUD", transport="memory")
