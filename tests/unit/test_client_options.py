"""The client options (kafkalog._client_options): checked once, translated for kafka-python and for confluent-kafka,
refused when producer_config sets the same thing, and never showing a secret."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from kafkalog import KafkaHandler, KafkaLogConfig
from kafkalog.errors import ConfigError, ConfigTypeError
from kafkalog.transports import _confluent_config, _kafka_python_config

from .conftest import BOOTSTRAP

SECRET = "s3cr3t-Pa55word"
KEY_SECRET = "k3y-Pa55word"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Readable files standing in for the CA, certificate and key (their content is not read here)."""
    paths = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("not a real certificate\n")
        paths[name] = str(tmp_path / name)
    return paths


def make(**options: Any) -> KafkaLogConfig:
    return KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="t", **options)


def full_options(files: dict[str, str]) -> dict[str, Any]:
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "alice",
            "sasl_password": SECRET, "ssl_ca_file": files["ca.pem"], "ssl_cert_file": files["client.pem"],
            "ssl_key_file": files["client.key"], "ssl_key_password": KEY_SECRET, "compression": "gzip",
            "acks": 1, "producer_linger": 0.02, "producer_batch_bytes": 65536}


@pytest.fixture
def no_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """librdkafka's trial producer would read the stand-in files; the translation is what is checked here."""
    monkeypatch.setattr(_confluent_config, "_trial", lambda client, settings, origin: None)


class TestTranslation:
    def test_kafka_python_names(self, files: dict[str, str]) -> None:
        settings = make(**full_options(files)).transport_settings
        expected = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_plain_username": "alice", "sasl_plain_password": SECRET, "ssl_cafile": files["ca.pem"],
                    "ssl_certfile": files["client.pem"], "ssl_keyfile": files["client.key"],
                    "ssl_password": KEY_SECRET, "compression_type": "gzip", "acks": 1, "linger_ms": 20,
                    "batch_size": 65536, "enable_idempotence": False}
        assert {k: settings[k] for k in expected} == expected

    def test_confluent_names(self, files: dict[str, str], no_trial: None) -> None:
        settings = make(transport="confluent", **full_options(files)).transport_settings
        expected = {"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
                    "sasl.password": SECRET, "ssl.ca.location": files["ca.pem"],
                    "ssl.certificate.location": files["client.pem"], "ssl.key.location": files["client.key"],
                    "ssl.key.password": KEY_SECRET, "compression.type": "gzip", "acks": 1, "linger.ms": 20,
                    "batch.size": 65536}
        assert {k: settings[k] for k in expected} == expected
        assert "enable.idempotence" not in settings  # acks=1: no idempotence

    @pytest.mark.parametrize(("given", "kafka_python", "confluent"), [
        ("none", None, "none"), ("GZIP", "gzip", "gzip"), ("zstd", "zstd", "zstd")])
    def test_compression(self, given: str, kafka_python: str | None, confluent: str) -> None:
        assert make(compression=given).transport_settings["compression_type"] == kafka_python
        assert make(transport="confluent", compression=given).transport_settings["compression.type"] == confluent

    @pytest.mark.parametrize("acks", ["all", -1, "-1", "ALL"])
    def test_acks_all_keeps_idempotence(self, acks: Any) -> None:
        kp = make(acks=acks).transport_settings
        assert kp["acks"] == "all" and "enable_idempotence" not in kp
        cf = make(transport="confluent", acks=acks).transport_settings
        assert cf["acks"] == "all" and cf["enable.idempotence"] is True

    def test_unset_options_leave_defaults(self) -> None:
        assert make().transport_settings == {**_kafka_python_config.DEFAULTS, "bootstrap_servers": [BOOTSTRAP]}
        assert make(transport="confluent").transport_settings["linger.ms"] == _confluent_config.DEFAULTS["linger.ms"]

    def test_options_mix_with_producer_config(self) -> None:
        settings = make(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="alice",
                        sasl_password=SECRET, producer_config={"client_id": "billing"}).transport_settings
        assert (settings["client_id"], settings["sasl_plain_username"]) == ("billing", "alice")

    def test_mechanism_from_producer_config_is_enough(self) -> None:
        make(security_protocol="SASL_PLAINTEXT", sasl_username="a", sasl_password=SECRET,
             producer_config={"sasl_mechanism": "PLAIN"})

    def test_normalised_values_shown(self, files: dict[str, str]) -> None:
        config = make(**{**full_options(files), "security_protocol": "sasl_ssl", "acks": -1})
        assert (config.security_protocol, config.acks, config.producer_linger) == ("SASL_SSL", "all", 0.02)

    def test_custom_transport_gets_kafkalog_names(self) -> None:
        seen: list[dict[str, Any]] = []

        def factory(settings: dict[str, Any]) -> Any:
            seen.append(settings)
            raise RuntimeError("not built in this test")

        config = make(transport=factory, compression="lz4", producer_linger=0.5)
        assert config.transport_settings["compression"] == "lz4"
        assert config.transport_settings["producer_linger"] == 500


class TestClash:
    @pytest.mark.parametrize(("transport", "option", "value", "key"), [
        ("kafka-python", "acks", 1, "acks"),
        ("kafka-python", "compression", "gzip", "compression_type"),
        ("kafka-python", "producer_linger", 0.1, "linger_ms"),
        ("kafka-python", "producer_batch_bytes", 1024, "batch_size"),
        ("kafka-python", "sasl_password", SECRET, "sasl_plain_password"),
        ("confluent", "acks", "all", "request.required.acks"),
        ("confluent", "compression", "gzip", "compression.codec"),
        ("confluent", "producer_linger", 0.1, "queue.buffering.max.ms"),
        ("confluent", "producer_batch_bytes", 1024, "batch.size"),
        ("confluent", "sasl_password", SECRET, "sasl.password"),
    ])
    def test_same_setting_twice_names_both(self, transport: str, option: str, value: Any, key: str) -> None:
        extra: dict[str, Any] = {}
        if option == "sasl_password":
            extra = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "a"}
        with pytest.raises(ConfigError) as raised:
            make(transport=transport, producer_config={key: value}, **{option: value}, **extra)
        text = str(raised.value)
        assert text.startswith(f"{option} and producer_config[{key!r}] set the same thing")
        assert SECRET not in text


class TestValidation:
    @pytest.mark.parametrize(("options", "error", "says"), [
        ({"security_protocol": "TLS"}, ConfigError, "security_protocol: 'TLS' is not one of"),
        ({"security_protocol": 1}, ConfigTypeError, "security_protocol: expected a str"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, ConfigError, "sasl_mechanism: 'GSSAPI'"),
        ({"security_protocol": "SASL_SSL"}, ConfigError, "sasl_mechanism: security_protocol='SASL_SSL' needs"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_password": SECRET}, ConfigError,
         "sasl_username: sasl_mechanism='PLAIN' needs sasl_username"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "a"}, ConfigError,
         "sasl_password: sasl_mechanism='PLAIN' needs sasl_password"),
        ({"sasl_username": "a"}, ConfigError, "sasl_username: only used with security_protocol"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "a",
          "sasl_password": SECRET, "ssl_ca_file": __file__}, ConfigError, "ssl_ca_file: only used with"),
        ({"security_protocol": "SSL", "ssl_ca_file": "/no/such/ca.pem"}, ConfigError,
         "ssl_ca_file: '/no/such/ca.pem' is not a readable file"),
        ({"security_protocol": "SSL", "ssl_key_file": __file__}, ConfigError, "ssl_key_file: needs ssl_cert_file"),
        ({"security_protocol": "SSL", "ssl_key_password": KEY_SECRET}, ConfigError,
         "ssl_key_password: needs ssl_key_file"),
        ({"compression": "brotli"}, ConfigError, "compression: 'brotli' is not one of"),
        ({"acks": 2}, ConfigError, "acks: 2 is not one of [0, 1, 'all']"),
        ({"acks": True}, ConfigError, "acks: True is not one of"),
        ({"producer_linger": -1}, ConfigError, "producer_linger: must be from 0 to 60"),
        ({"producer_linger": "5ms"}, ConfigTypeError, "producer_linger: expected a number of seconds"),
        ({"producer_batch_bytes": 0}, ConfigError, "producer_batch_bytes: must be from 1"),
        ({"producer_batch_bytes": 1.5}, ConfigTypeError, "producer_batch_bytes: expected an int"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "a",
          "sasl_password": 12345}, ConfigTypeError, "sasl_password: expected a str or None, got int"),
    ])
    @pytest.mark.parametrize("transport", ["kafka-python", "confluent"])
    def test_bad_values_raise_naming_the_option(self, transport: str, options: dict[str, Any],
                                                error: type[Exception], says: str) -> None:
        with pytest.raises(error) as raised:
            make(transport=transport, **options)
        assert says in str(raised.value)
        assert SECRET not in str(raised.value) and "12345" not in str(raised.value)

    def test_ssl_options_need_a_tls_protocol_from_either_place(self) -> None:
        make(producer_config={"security_protocol": "SSL"}, ssl_ca_file=__file__)
        with pytest.raises(ConfigError, match=r"ssl_ca_file: .* not 'PLAINTEXT' \(security_protocol is not set\)"):
            make(ssl_ca_file=__file__)

    def test_missing_codec_library_refused_for_kafka_python(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "zstandard" else real(name, *a))
        with pytest.raises(ConfigError) as raised:
            make(compression="zstd")
        assert str(raised.value).startswith("compression='zstd' needs the 'zstandard' package with kafka-python")
        make(transport="confluent", compression="zstd")  # librdkafka has every codec built in

    def test_confluent_rejection_names_the_option(self, files: dict[str, str]) -> None:
        """librdkafka reads the CA file at construction: the error names ssl_ca_file, not ssl.ca.location."""
        with pytest.raises(ConfigError) as raised:
            make(transport="confluent", security_protocol="SSL", ssl_ca_file=files["ca.pem"])
        assert str(raised.value).startswith("ssl_ca_file rejected by librdkafka")


class TestSecrets:
    def test_repr_masks_passwords(self, files: dict[str, str]) -> None:
        config = make(**full_options(files))
        shown = repr(config)
        assert SECRET not in shown and KEY_SECRET not in shown
        assert "sasl_password='***'" in shown and "ssl_key_password='***'" in shown
        options = repr(config.client_options)  # public too
        assert SECRET not in options and KEY_SECRET not in options and "sasl_password='***'" in options
        handler = KafkaHandler(config=config)
        try:
            assert SECRET not in repr(handler)
        finally:
            handler.close(0)

    def test_secrets_scrubbed_from_client_text(self, files: dict[str, str]) -> None:
        config = make(**full_options(files))
        assert config.scrub(f"login {SECRET} key {KEY_SECRET}") == "login *** key ***"
