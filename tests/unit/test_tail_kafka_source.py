"""`--config-source kafka://TOPIC/KEY`: the URL's form and the options the topic is read with (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkalog.cli import main
from kafkalog.tail import TailConfigError
from kafkalog.tail._kafka_source import consumer_security, parse_url


def test_url_gives_topic_and_key() -> None:
    """The topic keeps its case; the key keeps its slashes and is %-decoded."""
    assert parse_url("kafka://Tail.Config_1/hosts/web-1") == ("Tail.Config_1", "hosts/web-1")
    assert parse_url("kafka://cfg/a%20b") == ("cfg", "a b")


@pytest.mark.parametrize(("url", "problem"), [
    ("kafka://cfg", "expected kafka://TOPIC/KEY"),
    ("kafka://cfg/", "expected kafka://TOPIC/KEY"),
    ("kafka:///key", "'' is not a valid Kafka topic name"),
    ("kafka://cfg/key?x=1", "expected kafka://TOPIC/KEY"),
    ("kafka://cfg/key#frag", "expected kafka://TOPIC/KEY"),
    ("kafka://host:9092/key", "'host:9092' is not a valid Kafka topic name"),
    ("kafka://../key", "'..' is not a valid Kafka topic name"),
    ("kafkas://cfg/key", "expected kafka://TOPIC/KEY"),
])
def test_bad_urls_are_rejected_with_the_form_expected(url: str, problem: str) -> None:
    with pytest.raises(TailConfigError, match="--config-source") as info:
        parse_url(url)
    assert problem in str(info.value)


def test_security_options_are_the_shippers_in_kafka_python_names() -> None:
    """Only the connection options are taken; a wrong one is refused with its name."""
    shipper = {"security_protocol": "sasl_plaintext", "sasl_mechanism": "PLAIN", "sasl_username": "u",
               "sasl_password": "p", "compression": "gzip", "level": "INFO"}
    assert consumer_security(shipper) == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                                          "sasl_plain_username": "u", "sasl_plain_password": "p"}
    with pytest.raises(Exception, match="sasl_mechanism"):
        consumer_security({"security_protocol": "SASL_SSL"})


@pytest.mark.parametrize("url", ["kafka://cfg", "zookeeper://h:2181/k"])
def test_cli_exits_2_on_a_bad_source(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tail", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t", "--state-dir", f"{tmp_path}/s",
                 "--config-source", url])
    assert code == 2
    assert "--config-source: expected kafka://TOPIC/KEY" in capsys.readouterr().err
