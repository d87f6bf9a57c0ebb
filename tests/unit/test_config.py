"""KafkaLogConfig validation: each bad option raises at construction, naming the option; secrets never shown."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import pytest

from kafkalog import ConfigError, ConfigTypeError, KafkaHandler, KafkaLogConfig, KafkaLogError, KafkaSink
from kafkalog.transports import MemoryTransport

from .conftest import BOOTSTRAP

SECRET = "hunter2-Pa55w0rd"
SSL_SECRET = "ssl-k3y-pa55"
SASL = {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_plain_username": "alice",
        "sasl_plain_password": SECRET, "ssl_password": SSL_SECRET}


def make(**options: Any) -> KafkaLogConfig:
    options.setdefault("bootstrap_servers", BOOTSTRAP)
    options.setdefault("topic", "logs")
    return KafkaLogConfig(**options)


def error_of(**options: Any) -> Exception:
    with pytest.raises((ConfigError, ConfigTypeError)) as info:
        make(**options)
    return info.value


class TestBootstrapServers:
    @pytest.mark.parametrize("value", ["127.0.0.1:9092", "kafka-1.example.com:9092", "[::1]:9092",
                                       "a:1,b:65535", " a:1 , b:2 ", ["a:1", "b:2"], ("a:1",)])
    def test_accepts_host_port_forms(self, value: Any) -> None:
        """A host:port string, a comma list or a sequence of them is accepted."""
        assert make(bootstrap_servers=value).servers

    def test_comma_string_is_split_and_stripped(self) -> None:
        """'a:1 , b:2' becomes the servers ('a:1', 'b:2')."""
        assert make(bootstrap_servers=" a:1 , b:2 ").servers == ("a:1", "b:2")

    def test_servers_reach_transport_settings(self) -> None:
        """The parsed servers are what the transport is given as bootstrap_servers."""
        assert make(bootstrap_servers="a:1,b:2").transport_settings["bootstrap_servers"] == ["a:1", "b:2"]

    @pytest.mark.parametrize("value", ["", " , ", "localhost", "host:0", "host:65536", "host:port", "a:1:2",
                                       "http://a:1", "a b:1", ":9092", ["a:1", "nope"], [None]])
    def test_bad_value_names_option(self, value: Any) -> None:
        """A malformed server list raises ConfigError naming bootstrap_servers."""
        err = error_of(bootstrap_servers=value)
        assert isinstance(err, ConfigError)
        assert str(err).startswith("bootstrap_servers:")

    @pytest.mark.parametrize("value", [9092, b"a:1", None, {"a": 1}.keys()])
    def test_bad_type_names_option(self, value: Any) -> None:
        """A value that is neither a str nor a sequence raises ConfigTypeError naming bootstrap_servers."""
        err = error_of(bootstrap_servers=value)
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith("bootstrap_servers:")


class TestTopicOption:
    @pytest.mark.parametrize("value", ["logs", "a.b_c-D9", "x" * 249, "logs-{type}", "x-{fields.tenant}",
                                       "{logger}.{fields.a-b}"])
    def test_accepts_names_and_templates(self, value: str) -> None:
        """Valid names (1-249 of [a-zA-Z0-9._-]) and templates are accepted."""
        make(topic=value)

    @pytest.mark.parametrize("value", ["", "a b", "a/b", "x" * 250, ".", "..", "logs-{type", "logs-type}",
                                       "logs-{}", "logs-{1x}", "logs-{fields..a}", "logs-{a b}", "ü"])
    def test_bad_value_names_option(self, value: str) -> None:
        """An invalid topic name or template raises ConfigError naming topic."""
        err = error_of(topic=value)
        assert isinstance(err, ConfigError)
        assert str(err).startswith("topic:")

    @pytest.mark.parametrize("value", [None, 5, b"logs"])
    def test_bad_type_names_option(self, value: Any) -> None:
        """A topic that is not a str or callable raises ConfigTypeError naming topic."""
        err = error_of(topic=value)
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith("topic:")

    def test_fixed_topic_is_known_up_front(self) -> None:
        """A plain name is the fixed topic; a template has none."""
        assert (make(topic="logs").fixed_topic, make(topic="l-{type}").fixed_topic) == ("logs", None)


class TestKeyOption:
    @pytest.mark.parametrize("value", ["host", "fields.user_id", "fields.a-b", "_x"])
    def test_accepts_paths(self, value: str) -> None:
        """A record key or a fields.<name> path is accepted."""
        assert make(key=value).key_for is not None

    @pytest.mark.parametrize("value", ["", "1abc", "fields..x", "fields.", "a b", ".x", "{fields..x}", "{x"])
    def test_bad_path_names_option(self, value: str) -> None:
        """A malformed key path raises ConfigError naming key."""
        err = error_of(key=value)
        assert isinstance(err, ConfigError)
        assert str(err).startswith("key:")

    @pytest.mark.parametrize("value", [5, b"host", ["host"]])
    def test_bad_type_names_option(self, value: Any) -> None:
        """A key that is not None, a str or a callable raises ConfigTypeError naming key."""
        err = error_of(key=value)
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith("key:")


class TestStaticFields:
    @pytest.mark.parametrize("name", ["type", "action", "time", "msg", "fields", "funcName", "logger", "host",
                                      "pid", "thread", "file", "line", "exception", "truncated"])
    def test_reserved_key_clash_names_option_and_key(self, name: str) -> None:
        """A static field named like a record key raises ConfigError naming static_fields and the key."""
        err = error_of(static_fields={name: 1, "service": "x"})
        assert isinstance(err, ConfigError)
        assert str(err).startswith("static_fields:")
        assert repr(name) in str(err)

    def test_not_a_mapping_names_option(self) -> None:
        """A non-mapping static_fields raises ConfigTypeError naming it."""
        err = error_of(static_fields=[("service", "x")])
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith("static_fields:")

    def test_too_large_names_option(self) -> None:
        """Static fields over a quarter of max_message_bytes raise ConfigError naming static_fields."""
        err = error_of(static_fields={"blob": "x" * 300}, max_message_bytes=1024)
        assert isinstance(err, ConfigError)
        assert str(err).startswith("static_fields:")

    def test_keys_are_stringified(self) -> None:
        """Non-str keys are turned into str keys."""
        assert make(static_fields={1: "a"}).static_fields == {"1": "a"}


class TestScalarOptions:
    @pytest.mark.parametrize(("name", "value"), [("default_action", 1), ("hostname", 5), ("on_error", "print"),
                                                  ("handle_sigterm", "yes"), ("handle_sigterm", 1)])
    def test_bad_type_names_option(self, name: str, value: Any) -> None:
        """A wrongly typed default_action / hostname / on_error / handle_sigterm raises ConfigTypeError naming it."""
        err = error_of(**{name: value})
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith(f"{name}:")

    @pytest.mark.parametrize(("name", "value"), [("overflow", "drop"), ("overflow", None), ("oversize", "cut"),
                                                  ("oversize", "block")])
    def test_bad_choice_names_option_and_choices(self, name: str, value: Any) -> None:
        """An unknown overflow/oversize policy raises ConfigError naming the option and its choices."""
        err = error_of(**{name: value})
        assert isinstance(err, ConfigError)
        assert str(err).startswith(f"{name}:")
        assert ("drop_oldest" if name == "overflow" else "truncate") in str(err)

    @pytest.mark.parametrize("value", ["drop_newest", "drop_oldest", "block"])
    def test_overflow_choices_accepted(self, value: str) -> None:
        """Every documented overflow policy is accepted."""
        assert make(overflow=value).overflow == value

    def test_hostname_overrides_host(self) -> None:
        """hostname= is the host put in records."""
        assert make(hostname="box-1").host == "box-1"


NUMBER_CASES = [
    ("queue_max_records", 0), ("queue_max_records", 1.5), ("queue_max_records", True), ("queue_max_records", "9"),
    ("max_message_bytes", 1023), ("max_message_bytes", 2048.0),
    ("queue_max_bytes", 999_999), ("batch_max_records", 0), ("batch_max_records", 100_001),
    ("block_timeout", -0.1), ("block_timeout", 60.5), ("block_timeout", "1"), ("linger", -1), ("linger", 10.5),
    ("retry_backoff", 0), ("retry_backoff", 0.0009), ("retry_backoff_max", 0.05), ("delivery_timeout", 0.05),
    ("close_timeout", -1), ("flush_timeout", -0.001), ("error_interval", -1), ("error_interval", None),
]


class TestNumbers:
    @pytest.mark.parametrize(("name", "value"), NUMBER_CASES)
    def test_out_of_range_or_wrong_type_names_option(self, name: str, value: Any) -> None:
        """A number out of range or of the wrong type raises, naming the option."""
        err = error_of(**{name: value})
        assert str(err).startswith(f"{name}:")

    @pytest.mark.parametrize(("name", "value"), [("queue_max_records", "9"), ("linger", True), ("block_timeout", None)])
    def test_wrong_type_is_type_error(self, name: str, value: Any) -> None:
        """A non-number (or a bool) is a ConfigTypeError, i.e. a TypeError."""
        assert isinstance(error_of(**{name: value}), TypeError)

    @pytest.mark.parametrize(("name", "value"), [("queue_max_records", 0), ("linger", 11)])
    def test_out_of_range_is_value_error(self, name: str, value: Any) -> None:
        """A number out of range is a ConfigError, i.e. a ValueError."""
        assert isinstance(error_of(**{name: value}), ValueError)

    def test_queue_bytes_must_hold_one_message(self) -> None:
        """queue_max_bytes below one max-size record (plus its bookkeeping) is rejected, naming queue_max_bytes."""
        err = error_of(max_message_bytes=4096, queue_max_bytes=4096)
        assert str(err).startswith("queue_max_bytes:")

    def test_backoff_max_not_below_backoff(self) -> None:
        """retry_backoff_max below retry_backoff is rejected, naming retry_backoff_max."""
        err = error_of(retry_backoff=1.0, retry_backoff_max=0.5)
        assert str(err).startswith("retry_backoff_max:")

    @pytest.mark.parametrize(("name", "value"), [("queue_max_records", 1), ("batch_max_records", 100_000),
                                                  ("block_timeout", 0), ("block_timeout", 60), ("linger", 10),
                                                  ("delivery_timeout", 0.1), ("close_timeout", 0),
                                                  ("max_message_bytes", 1024)])
    def test_boundaries_are_inclusive(self, name: str, value: Any) -> None:
        """The documented bounds themselves are accepted."""
        options = {name: value}
        if name == "max_message_bytes":
            options["queue_max_bytes"] = 1024 + 256
        assert getattr(make(**options), name) == value


class TestProducerConfig:
    def test_not_a_mapping_names_option(self) -> None:
        """A producer_config that is not a mapping raises ConfigTypeError naming it."""
        err = error_of(producer_config=[("acks", 1)])
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith("producer_config:")

    def test_unknown_key_names_option_and_key(self) -> None:
        """An unknown kafka-python option raises ConfigError naming producer_config and the key."""
        err = error_of(producer_config={"acks": 1, "lingerms": 5})
        assert isinstance(err, ConfigError)
        assert str(err).startswith("producer_config:")
        assert "'lingerms'" in str(err)

    @pytest.mark.parametrize("name", ["bootstrap_servers", "value_serializer", "key_serializer", "transactional_id"])
    def test_owned_key_names_option_and_key(self, name: str) -> None:
        """An option kafkalog owns raises ConfigError naming producer_config and that option."""
        err = error_of(producer_config={name: "x"})
        assert isinstance(err, ConfigError)
        assert str(err).startswith(f"producer_config: {name!r}")

    @pytest.mark.parametrize("acks", [2, "one", None, -2])
    def test_bad_acks_names_acks(self, acks: Any) -> None:
        """acks outside 0/1/-1/'all' raises ConfigError naming acks."""
        err = error_of(producer_config={"acks": acks})
        assert isinstance(err, ConfigError)
        assert "producer_config: acks=" in str(err)

    @pytest.mark.parametrize("acks", [0, 1, -1, "all"])
    def test_good_acks_reach_settings(self, acks: Any) -> None:
        """Valid acks values pass through to the transport settings."""
        assert make(producer_config={"acks": acks}).transport_settings["acks"] == acks

    def test_missing_codec_package_names_package(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """compression_type='lz4' without the lz4 package raises ConfigError naming the package to install."""
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a, **k: None if name == "lz4" else real(name, *a, **k))
        err = error_of(producer_config={"compression_type": "lz4"})
        assert isinstance(err, ConfigError)
        assert "compression_type='lz4'" in str(err)
        assert "pip install lz4" in str(err)

    def test_gzip_needs_no_package(self) -> None:
        """compression_type='gzip' is accepted without any extra package."""
        assert make(producer_config={"compression_type": "gzip"}).transport_settings["compression_type"] == "gzip"

    def test_unknown_codec_names_option(self) -> None:
        """An unknown codec raises ConfigError naming compression_type."""
        assert "compression_type=" in str(error_of(producer_config={"compression_type": "brotli"}))

    @pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
    def test_sasl_without_mechanism_names_sasl_mechanism(self, protocol: str) -> None:
        """A SASL security_protocol without sasl_mechanism raises ConfigError naming sasl_mechanism."""
        err = error_of(producer_config={"security_protocol": protocol})
        assert isinstance(err, ConfigError)
        assert "sasl_mechanism" in str(err)

    @pytest.mark.parametrize(("name", "value"), [("linger_ms", -1), ("max_block_ms", 1.5), ("batch_size", True),
                                                  ("request_timeout_ms", "100")])
    def test_bad_int_option_names_it(self, name: str, value: Any) -> None:
        """A negative or non-int timing/size option raises ConfigTypeError naming it."""
        err = error_of(producer_config={name: value})
        assert isinstance(err, ConfigTypeError)
        assert f"producer_config: {name}" in str(err)

    @pytest.mark.parametrize(("options", "delivery", "linger", "least"), [
        ({"producer_config": {"delivery_timeout_ms": 5000}}, 5000, "linger_ms=5 (kafkalog's default)", 10005),
        ({"producer_config": {"delivery_timeout_ms": 30000, "linger_ms": 25000}}, 30000, "linger_ms=25000 +", 35000),
        ({"producer_config": {"delivery_timeout_ms": 30000}, "producer_linger": 25}, 30000,
         "producer_linger (25000 ms)", 35000)])
    def test_delivery_timeout_below_linger_plus_request_names_them(self, options: dict[str, Any], delivery: int,
                                                                   linger: str, least: int) -> None:
        """kafka-python refuses delivery_timeout_ms < linger_ms + request_timeout_ms when the producer is built (on
        the worker, where every record would fail): refused at construction instead, naming the three and the
        least value that works."""
        err = error_of(**options)
        assert isinstance(err, ConfigError)
        text = str(err)
        assert text.startswith(f"producer_config: delivery_timeout_ms={delivery} must be at least"), text
        assert linger in text and "request_timeout_ms=10000 (kafkalog's default)" in text, text
        assert f"set delivery_timeout_ms to {least} or more" in text, text

    @pytest.mark.parametrize(("options", "expected"), [({"producer_linger": 25}, 35000),
                                                       ({"producer_config": {"request_timeout_ms": 40000}}, 40005),
                                                       ({}, 30000)])
    def test_default_delivery_timeout_rises_above_linger_plus_request(self, options: dict[str, Any],
                                                                      expected: int) -> None:
        """kafkalog's own delivery_timeout_ms default never makes a raised linger or request timeout fail."""
        assert make(**options).transport_settings["delivery_timeout_ms"] == expected

    def test_delivery_timeout_equal_to_linger_plus_request_is_accepted(self) -> None:
        """The boundary kafka-python accepts is accepted."""
        config = make(producer_config={"delivery_timeout_ms": 10005}).transport_settings
        assert config["delivery_timeout_ms"] == 10005

    def test_user_options_override_defaults(self) -> None:
        """producer_config wins over kafkalog's kafka-python defaults, which fill the rest."""
        settings = make(producer_config={"linger_ms": 50}).transport_settings
        assert (settings["linger_ms"], settings["max_block_ms"]) == (50, 1000)

    def test_custom_transport_accepts_any_options(self) -> None:
        """With a custom transport, producer_config is passed through unchecked."""
        config = make(transport=MemoryTransport(), producer_config={"anything": 1})
        assert config.transport_settings["anything"] == 1

    @pytest.mark.parametrize(("value", "kind"), [("nope", ConfigError), (5, ConfigTypeError)])
    def test_bad_transport_names_option(self, value: Any, kind: type) -> None:
        """An unknown transport name or a non-callable raises, naming transport."""
        err = error_of(transport=value)
        assert isinstance(err, kind)
        assert str(err).startswith("transport:")


class TestHandlerKeywords:
    def test_unknown_keyword_is_type_error_listing_options(self) -> None:
        """An unknown handler keyword raises a TypeError that lists the valid options."""
        with pytest.raises(TypeError) as info:
            KafkaHandler(BOOTSTRAP, "logs", transport=MemoryTransport(), queue_size=10)
        text = str(info.value)
        assert "queue_size" in text
        assert "queue_max_records" in text
        assert "producer_config" in text

    def test_unknown_sink_keyword_is_type_error_listing_options(self) -> None:
        """An unknown sink keyword raises a TypeError that lists the valid options."""
        with pytest.raises(TypeError, match="overflow"):
            KafkaSink(BOOTSTRAP, "logs", transport=MemoryTransport(), lingr=0)

    def test_missing_topic_is_type_error(self) -> None:
        """A handler without a topic raises ConfigTypeError naming the required options."""
        with pytest.raises(ConfigTypeError, match="topic"):
            KafkaHandler(BOOTSTRAP)

    def test_config_and_options_together_rejected(self) -> None:
        """Passing config= together with options raises ConfigTypeError naming config."""
        config = make(transport=MemoryTransport())
        with pytest.raises(ConfigTypeError, match=r"^config:"):
            KafkaHandler(config=config, linger=1)

    def test_config_object_is_used(self) -> None:
        """config= alone is used as the handler's config."""
        config = make(transport=MemoryTransport(), handle_sigterm=False)
        handler = KafkaHandler(config=config)
        try:
            assert handler.config is config
        finally:
            handler.close(0.5)

    def test_unknown_config_option_lists_options(self) -> None:
        """KafkaLogConfig(topik=...) raises ConfigTypeError (a KafkaLogError) naming the valid options."""
        with pytest.raises(KafkaLogError) as info:
            KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topik="logs")  # type: ignore[call-arg]
        assert isinstance(info.value, ConfigTypeError)
        assert str(info.value).startswith("topik: unknown option (did you mean 'topic'?); the options are [")

    def test_positional_config_arguments_rejected(self) -> None:
        """KafkaLogConfig takes keywords only, and says so."""
        with pytest.raises(ConfigTypeError, match="keyword"):
            KafkaLogConfig(BOOTSTRAP, "logs")  # type: ignore[misc]

    def test_bad_option_value_raises_from_handler(self) -> None:
        """A bad value given to the handler raises the same ConfigError, naming the option."""
        with pytest.raises(ConfigError, match=r"^linger:"):
            KafkaHandler(BOOTSTRAP, "logs", transport=MemoryTransport(), linger=99)


class TestSpoolOptions:
    @pytest.mark.parametrize(("options", "name"), [
        ({"spool_max_bytes": 0}, "spool_max_bytes"),
        ({"spool_max_bytes": 2_000_000, "spool_segment_bytes": 4_000_000}, "spool_max_bytes"),
        ({"spool_segment_bytes": 10}, "spool_segment_bytes"),
        ({"spool_full_policy": "wait"}, "spool_full_policy"),
        ({"spool_full_policy": "block", "spool_max_bytes": 16 * 1024 * 1024}, "spool_max_bytes"),
    ])
    def test_bad_value_names_the_option(self, options: dict[str, Any], name: str) -> None:
        """An out-of-range spool option raises ConfigError naming it."""
        err = error_of(spool_dir="/tmp/spool", **options)
        assert isinstance(err, ConfigError)
        assert str(err).startswith(f"{name}:")

    @pytest.mark.parametrize(("options", "name"), [
        ({"spool_max_bytes": "1MB"}, "spool_max_bytes"),
        ({"spool_segment_bytes": True}, "spool_segment_bytes"),
        ({"spool_fsync": "yes"}, "spool_fsync"),
        ({"spool_dir": b"/tmp/x"}, "spool_dir"),
        ({"spool_dir": ""}, "spool_dir"),
    ])
    def test_bad_type_names_the_option(self, options: dict[str, Any], name: str) -> None:
        """A spool option of the wrong type raises ConfigTypeError naming it."""
        err = error_of(**options)
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith(f"{name}:")


class TestSecrets:
    def test_config_repr_masks_passwords(self) -> None:
        """repr(config) shows '***' for sasl_plain_password and ssl_password, never their values."""
        text = repr(make(producer_config=SASL))
        assert SECRET not in text
        assert SSL_SECRET not in text
        assert "'sasl_plain_password': '***'" in text
        assert "'ssl_password': '***'" in text

    def test_config_repr_keeps_other_options(self) -> None:
        """repr(config) still shows non-secret producer options such as the user name."""
        assert "'sasl_plain_username': 'alice'" in repr(make(producer_config=SASL))

    def test_config_str_masks_passwords(self) -> None:
        """str(config) (as an f-string would show it) never contains a password."""
        text = f"{make(producer_config=SASL)}"
        assert SECRET not in text
        assert "***" in text

    def test_handler_repr_has_no_password(self) -> None:
        """repr(handler) never contains a password."""
        handler = KafkaHandler(BOOTSTRAP, "logs", producer_config=SASL, handle_sigterm=False)
        try:
            assert SECRET not in repr(handler)
            assert SSL_SECRET not in repr(handler)
            assert SECRET not in repr(handler.config)
        finally:
            handler.close(0.5)

    def test_config_keeps_real_password_for_the_client(self) -> None:
        """The transport settings still carry the real password (masking is for display only)."""
        assert make(producer_config=SASL).transport_settings["sasl_plain_password"] == SECRET

    def test_scrub_replaces_each_secret(self) -> None:
        """config.scrub() replaces every secret value in a text with '***'."""
        config = make(producer_config=SASL)
        assert config.scrub(f"auth failed for alice/{SECRET} (key {SSL_SECRET})") == \
            "auth failed for alice/*** (key ***)"

    def test_scrub_leaves_text_without_secrets(self) -> None:
        """config.scrub() returns a text without secrets unchanged."""
        assert make(producer_config=SASL).scrub("alice connected") == "alice connected"

    def test_scrub_without_secrets_is_identity(self) -> None:
        """With no secret options, scrub() changes nothing."""
        assert make().scrub("password=") == "password="

    def test_token_provider_masked(self) -> None:
        """An option whose name says token (sasl_oauth_token_provider) is masked in repr."""
        provider = object()
        text = repr(make(transport=MemoryTransport(), producer_config={"sasl_oauth_token_provider": provider}))
        assert repr(provider) not in text
        assert "'sasl_oauth_token_provider': '***'" in text

    def test_scrub_masks_secret_containing_another_secret(self) -> None:
        """A password that contains a shorter password is masked whole, leaking none of its characters."""
        config = make(transport=MemoryTransport(),
                      producer_config={"ssl_password": "pass", "sasl_plain_password": "pass-word-77"})
        assert config.scrub("login with pass-word-77 failed") == "login with *** failed"

    def test_config_error_never_quotes_a_password(self) -> None:
        """A config error about another option does not quote the password."""
        err = error_of(producer_config={**SASL, "acks": 9})
        assert SECRET not in str(err)


class TestKafkaPythonTransport:
    """The kafka-python transport's option list and error mapping, checked against the installed kafka-python."""

    @pytest.fixture
    def producer_defaults(self) -> set[str]:
        kafka = pytest.importorskip("kafka")
        return set(kafka.KafkaProducer.DEFAULT_CONFIG)

    def test_known_options_are_producer_options_minus_owned(self, producer_defaults: set[str]) -> None:
        """KNOWN_OPTIONS is exactly KafkaProducer.DEFAULT_CONFIG minus the options kafkalog owns."""
        from kafkalog.transports.kafka_python import KNOWN_OPTIONS, OWNED_OPTIONS

        assert set(KNOWN_OPTIONS) == producer_defaults - set(OWNED_OPTIONS)

    def test_owned_options_are_real_producer_options(self, producer_defaults: set[str]) -> None:
        """Every owned option (bootstrap_servers, key/value_serializer, transactional_id) exists in kafka-python."""
        from kafkalog.transports.kafka_python import OWNED_OPTIONS

        assert set(OWNED_OPTIONS) == {"bootstrap_servers", "key_serializer", "value_serializer", "transactional_id"}
        assert set(OWNED_OPTIONS) <= producer_defaults

    def test_known_and_owned_disjoint(self) -> None:
        """No option is both settable and owned (transactional_id is owned only)."""
        from kafkalog.transports.kafka_python import KNOWN_OPTIONS, OWNED_OPTIONS

        assert set(KNOWN_OPTIONS) & set(OWNED_OPTIONS) == set()

    def test_defaults_and_checks_use_known_options(self) -> None:
        """kafkalog's defaults, choice checks and int checks only name known options."""
        from kafkalog.transports import _kafka_python_config as kpc

        assert set(kpc.DEFAULTS) | set(kpc._CHOICES) | set(kpc._INT_OPTIONS) <= set(kpc.KNOWN_OPTIONS)

    @pytest.mark.parametrize(("name", "reason", "retriable"), [
        ("MessageSizeTooLargeError", "message_too_large", False),
        ("KafkaTimeoutError", "timeout", True),
        ("SaslAuthenticationFailedError", "auth_failed", False),
        ("TopicAuthorizationFailedError", "not_authorized", False),
        ("InvalidTopicError", "invalid_topic", False),
        ("NotLeaderForPartitionError", "broker_error", True),
    ])
    def test_to_delivery_error_mapping(self, name: str, reason: str, retriable: bool) -> None:
        """A kafka-python error maps to the documented reason and retriability."""
        errors = pytest.importorskip("kafka.errors")
        from kafkalog.transports.kafka_python import to_delivery_error

        mapped = to_delivery_error(getattr(errors, name)("detail"))
        assert (mapped.reason, mapped.retriable) == (reason, retriable)

    def test_to_delivery_error_names_exception(self) -> None:
        """The mapped error's text starts with the kafka-python class name."""
        errors = pytest.importorskip("kafka.errors")
        from kafkalog.transports.kafka_python import to_delivery_error

        assert str(to_delivery_error(errors.KafkaTimeoutError("metadata"))).startswith("KafkaTimeoutError: ")

    def test_to_delivery_error_passes_delivery_error_through(self) -> None:
        """A DeliveryError is returned as is."""
        from kafkalog.errors import DeliveryError
        from kafkalog.transports.kafka_python import to_delivery_error

        error = DeliveryError("x", "y", retriable=True)
        assert to_delivery_error(error) is error

    @pytest.mark.parametrize("exc", [ValueError("bad option"), TypeError("bad type")])
    def test_value_and_type_errors_are_config_errors(self, exc: Exception) -> None:
        """A ValueError/TypeError from the client (bad settings) is a non-retriable config_error."""
        from kafkalog.transports.kafka_python import to_delivery_error

        mapped = to_delivery_error(exc)
        assert (mapped.reason, mapped.retriable) == ("config_error", False)

    def test_import_does_not_load_kafka(self) -> None:
        """Importing kafkalog and building a kafka-python handler config does not import kafka-python."""
        import subprocess

        code = ("import sys, kafkalog; "
                "kafkalog.KafkaLogConfig(bootstrap_servers='127.0.0.1:9', topic='t', producer_config={'acks': 1}); "
                "print('kafka' in sys.modules, 'loguru' in sys.modules)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
        assert result.stdout.split() == ["False", "False"]

    def test_close_without_producer_is_noop(self) -> None:
        """Closing a transport that never opened does nothing and does not raise."""
        from kafkalog.transports.kafka_python import KafkaPythonTransport

        KafkaPythonTransport({}).close(0.1)
