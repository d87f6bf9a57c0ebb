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
