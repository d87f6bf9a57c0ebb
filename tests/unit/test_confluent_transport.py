"""The confluent transport without a broker: producer_config checks, error mapping, and send/close driven by a
scripted stand-in for ``confluent_kafka.Producer`` (delivery reports, a full queue, purge, stalls)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from kafkalog import ConfigError, ConfigTypeError, KafkaLogConfig
from kafkalog.errors import DeliveryError, MissingDependencyError
from kafkalog.transports import confluent
from kafkalog.transports.confluent import (
    DEFAULTS,
    OWNED_OPTIONS,
    ConfluentTransport,
    to_delivery_error,
    validate,
)
from kafkalog.typing import Message

from .conftest import BOOTSTRAP, finishes_within

ck = pytest.importorskip("confluent_kafka")
KafkaError = ck.KafkaError

SECRET = "hunter2-Pa55w0rd"


def make(producer_config: dict[str, Any]) -> KafkaLogConfig:
    return KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="logs", transport="confluent",
                          producer_config=producer_config)


def config_error(producer_config: dict[str, Any]) -> Exception:
    with pytest.raises((ConfigError, ConfigTypeError)) as info:
        make(producer_config)
    return info.value


# --- validate ------------------------------------------------------------------------------------------------


class TestChoices:
    @pytest.mark.parametrize("acks", [0, 1, -1, "0", "1", "-1", "all", "ALL"])
    def test_valid_acks_pass_through(self, acks: Any) -> None:
        """Every acks librdkafka accepts is accepted and reaches the transport settings."""
        assert make({"acks": acks}).transport_settings["acks"] == acks

    @pytest.mark.parametrize("acks", ["bogus", 2, True, "leader"])
    def test_bad_acks_names_option(self, acks: Any) -> None:
        """A bad acks raises ConfigError naming acks and listing the choices."""
        err = config_error({"acks": acks})
        assert isinstance(err, ConfigError)
        assert str(err).startswith("producer_config: acks=") and "'all'" in str(err)

    @pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd", "GZIP"])
    def test_valid_compression(self, codec: str) -> None:
        """librdkafka's bundled codecs are all accepted (no extra package needed)."""
        assert make({"compression.type": codec}).transport_settings["compression.type"] == codec

    @pytest.mark.parametrize("codec", ["brotli", "", None])
    def test_bad_compression_names_option(self, codec: Any) -> None:
        """An unknown codec (or None) raises naming compression.type."""
        assert "compression.type" in str(config_error({"compression.type": codec}))

    @pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "plaintext"])
    def test_valid_security_protocol(self, protocol: str) -> None:
        assert make({"security.protocol": protocol}).transport_settings["security.protocol"] == protocol

    def test_bad_security_protocol_names_option(self) -> None:
        err = config_error({"security.protocol": "TLS"})
        assert str(err).startswith("producer_config: security.protocol='TLS' is not one of")

    @pytest.mark.parametrize("mechanism", ["plain", "BOGUS", "SCRAM-SHA-1"])
    def test_bad_sasl_mechanism_names_option(self, mechanism: str) -> None:
        """sasl.mechanism is case-sensitive in librdkafka: 'plain' is refused here, not at the first connect."""
        err = config_error({"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
                            "sasl.username": "u", "sasl.password": SECRET})
        assert str(err).startswith(f"producer_config: sasl.mechanism='{mechanism}' is not one of")

    def test_sasl_protocol_needs_mechanism(self) -> None:
        err = config_error({"security.protocol": "SASL_PLAINTEXT", "sasl.username": "u", "sasl.password": SECRET})
        assert "sasl.mechanism" in str(err)

    def test_gssapi_refused_by_librdkafka_when_unsupported(self) -> None:
        """GSSAPI is refused now with a ConfigError naming it exactly when this librdkafka cannot do Kerberos.

        The wheels' librdkafka has no Kerberos, so the refusal is the usual branch; a raw confluent Producer
        says which branch applies, and both branches assert.
        """
        options = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"}
        try:
            ck.Producer({"bootstrap.servers": "127.0.0.1:9", **options})
        except ck.KafkaException:
            err = config_error(options)
            assert isinstance(err, ConfigError) and "GSSAPI" in str(err)
        else:
            assert make(options).transport_settings["producer_config"]["sasl.mechanism"] == "GSSAPI"

    def test_valid_sasl_plain(self) -> None:
        settings = make({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                         "sasl.username": "alice", "sasl.password": SECRET}).transport_settings
        assert settings["sasl.password"] == SECRET  # the real value reaches the producer


class TestOwnedAndUnknown:
    @pytest.mark.parametrize("name", sorted(OWNED_OPTIONS))
    def test_owned_option_names_it_and_why(self, name: str) -> None:
        """bootstrap.servers, callbacks and the like belong to kafkalog: ConfigError naming the option."""
        value: Any = (lambda *a: None) if name in ("on_delivery", "dr_cb", "dr_msg_cb", "error_cb") else "x"
        err = config_error({name: value})
        assert isinstance(err, ConfigError)
        assert str(err).startswith(f"producer_config: {name!r} cannot be set here")

    def test_bootstrap_servers_points_to_the_option(self) -> None:
        assert "use the bootstrap_servers option" in str(config_error({"bootstrap.servers": "a:1"}))

    @pytest.mark.parametrize("name", ["foo.bar", "linger_ms", "sasl_plain_username", "max.request.size"])
    def test_unknown_option_is_named(self, name: str) -> None:
        """librdkafka's 'No such configuration property' surfaces at construction, naming the option."""
        err = config_error({name: 1})
        assert isinstance(err, ConfigError)
        assert str(err).startswith(f"producer_config: unknown librdkafka option {name!r}")

    @pytest.mark.parametrize(("config", "named"), [
        ({"linger.ms": -5}, "linger.ms"),  # librdkafka says queue.buffering.max.ms: we name the user's alias
        ({"linger.ms": "soon"}, "linger.ms"),
        ({"message.timeout.ms": 1000, "linger.ms": 5000}, "message.timeout.ms"),
        ({"batch.num.messages": 0}, "batch.num.messages"),
        ({"acks": 1, "enable.idempotence": True}, "acks"),
    ])
    def test_invalid_value_names_the_option_as_written(self, config: dict[str, Any], named: str) -> None:
        err = config_error(config)
        assert isinstance(err, ConfigError)
        assert f"{named!r}" in str(err), err

    def test_unusable_ssl_file_caught_at_construction(self, tmp_path: Any) -> None:
        """A missing CA file is reported now, naming ssl.ca.location, not at the first connect."""
        err = config_error({"security.protocol": "SSL", "ssl.ca.location": str(tmp_path / "nope.pem")})
        assert "'ssl.ca.location'" in str(err)

    @pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"5"])
    def test_value_type_names_option(self, value: Any) -> None:
        err = config_error({"linger.ms": value})
        assert isinstance(err, ConfigTypeError)
        assert str(err).startswith("producer_config: linger.ms must be")

    def test_callback_option_must_be_callable(self) -> None:
        err = config_error({"stats_cb": 5})
        assert isinstance(err, ConfigTypeError) and "stats_cb" in str(err)

    def test_callable_stats_cb_accepted(self) -> None:
        assert callable(make({"stats_cb": lambda s: None, "statistics.interval.ms": 1000})
                        .transport_settings["stats_cb"])

    @pytest.mark.parametrize("config", [{"linger.ms": 1, "queue.buffering.max.ms": 1},
                                        {"acks": "all", "request.required.acks": "all"},
                                        {"delivery.timeout.ms": 1000, "message.timeout.ms": 1000}])
    def test_both_aliases_refused(self, config: dict[str, Any]) -> None:
        """Two names of one librdkafka option: which one wins would depend on dict order, so refuse."""
        err = config_error(config)
        assert isinstance(err, ConfigError)
        assert all(repr(name) in str(err) for name in config)


class TestSecrets:
    @pytest.mark.parametrize("config", [
        {"security.protocol": "SASL_SSL", "sasl.mechanism": "plain", "sasl.username": "u", "sasl.password": SECRET},
        {"security.protocol": "SASL_PLAINTEXT", "sasl.password": SECRET},
        {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.password": SECRET},
        {"security.protocol": "SSL", "ssl.key.location": "/nonexistent/key.pem", "ssl.key.password": SECRET},
        {"sasl.password": SECRET, "no.such.option": 1},
        {"sasl.password": SECRET, "linger.ms": -1},
        {"sasl.oauthbearer.client.secret": SECRET, "acks": "bogus"},
        {"sasl.password": SECRET, "sasl.mechanism": SECRET},  # a secret pasted into the wrong option
        {"ssl.key.password": SECRET, "stats_cb": SECRET},
    ])
    def test_secret_values_never_in_error_text(self, config: dict[str, Any]) -> None:
        err = config_error(config)
        assert SECRET not in str(err)
        assert SECRET not in repr(err)

    def test_secret_named_in_range_error_is_masked(self) -> None:
        """librdkafka quotes the value in some messages; for a secret option it is masked."""
        text = confluent.scrub_config(f'Configuration property "sasl.password" value {SECRET} is bad',
                                     {"sasl.password": SECRET})
        assert SECRET not in text and "***" in text


class TestDefaults:
    def test_defaults_for_log_shipping(self) -> None:
        settings = validate({})
        for name, value in DEFAULTS.items():
            assert settings[name] == value
        assert settings["linger.ms"] == 5
        assert settings["message.timeout.ms"] == 30_000
        assert settings["socket.keepalive.enable"] is True
        assert settings["queue.buffering.max.messages"] == 100_000
        assert settings["enable.idempotence"] is True

    def test_user_values_win(self) -> None:
        settings = validate({"linger.ms": 50, "client.id": "svc"})
        assert (settings["linger.ms"], settings["client.id"]) == (50, "svc")

    def test_alias_set_by_user_suppresses_default(self) -> None:
        """Setting delivery.timeout.ms must not be overridden by our message.timeout.ms (same option)."""
        settings = validate({"delivery.timeout.ms": 60_000, "queue.buffering.max.ms": 20})
        assert "message.timeout.ms" not in settings and "linger.ms" not in settings
        assert settings["delivery.timeout.ms"] == 60_000

    @pytest.mark.parametrize(("producer_config", "expected"), [({"linger.ms": 45_000}, 55_000),
                                                               ({"queue.buffering.max.ms": 40_000}, 50_000),
                                                               ({"linger.ms": 100}, 30_000),
                                                               ({"linger.ms": "45000", "request.timeout.ms": "20000"},
                                                                65_000)])
    def test_default_message_timeout_stays_above_a_raised_linger(self, producer_config: dict[str, Any],
                                                                 expected: int) -> None:
        """librdkafka refuses message.timeout.ms <= linger.ms: a linger the user raised past our default is not
        refused because of a default they never set."""
        assert make(producer_config).transport_settings["message.timeout.ms"] == expected

    def test_producer_linger_past_the_default_message_timeout_is_accepted(self) -> None:
        settings = KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="logs", transport="confluent",
                                  producer_linger=45).transport_settings
        assert (settings["linger.ms"], settings["message.timeout.ms"]) == (45_000, 55_000)

    @pytest.mark.parametrize("acks", [0, 1, "1"])
    def test_no_idempotence_without_acks_all(self, acks: Any) -> None:
        assert "enable.idempotence" not in validate({"acks": acks})

    def test_explicit_idempotence_kept(self) -> None:
        assert validate({"enable.idempotence": False})["enable.idempotence"] is False

    def test_bootstrap_servers_converted(self) -> None:
        """The worker adds bootstrap_servers (a list) to the settings; the producer gets bootstrap.servers."""
        config = make({})
        transport = ConfluentTransport(config.transport_settings)
        assert transport._conf["bootstrap.servers"] == BOOTSTRAP
        assert "bootstrap_servers" not in transport._conf
        assert ConfluentTransport({"bootstrap_servers": ["a:1", "b:2"]})._conf["bootstrap.servers"] == "a:1,b:2"

    def test_validate_returns_a_fresh_dict(self) -> None:
        config = {"linger.ms": 7}
        settings = validate(config)
        assert settings is not config and config == {"linger.ms": 7}


class TestMissingDependency:
    def test_missing_confluent_kafka_says_how_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # makes `import confluent_kafka` fail
        with pytest.raises(MissingDependencyError) as info:
            make({})
        assert "pip install 'kafkalog[confluent]'" in str(info.value)
        assert isinstance(info.value, ImportError)

    def test_static_checks_run_before_the_import(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "confluent_kafka", None)
        with pytest.raises(ConfigError, match=r"bootstrap\.servers"):
            make({"bootstrap.servers": "a:1"})

    def test_open_without_the_package_fails_clearly(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "confluent_kafka", None)
        with pytest.raises(MissingDependencyError, match=r"kafkalog\[confluent\]"):
            ConfluentTransport({"bootstrap_servers": ["a:1"]}).open()

    def test_naming_the_transport_does_not_import_the_client(self) -> None:
        code = ("import sys; from kafkalog.transports._registry import resolve_transport; "
                "resolve_transport('confluent'); print('confluent_kafka' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False"


# --- error mapping -------------------------------------------------------------------------------------------


class TestErrorMapping:
    @pytest.mark.parametrize(("code", "reason", "retriable"), [
        ("MSG_SIZE_TOO_LARGE", "message_too_large", False),
        ("RECORD_LIST_TOO_LARGE", "message_too_large", False),
        ("_AUTHENTICATION", "auth_failed", False),
        ("SASL_AUTHENTICATION_FAILED", "auth_failed", False),
        ("TOPIC_AUTHORIZATION_FAILED", "not_authorized", False),
        ("CLUSTER_AUTHORIZATION_FAILED", "not_authorized", False),
        ("TOPIC_EXCEPTION", "invalid_topic", False),
        ("_UNKNOWN_TOPIC", "invalid_topic", False),
        ("UNKNOWN_TOPIC_OR_PART", "invalid_topic", False),
        ("_MSG_TIMED_OUT", "timeout", True),
        ("REQUEST_TIMED_OUT", "timeout", True),
        ("_PURGE_QUEUE", "timeout", True),
        ("_ALL_BROKERS_DOWN", "broker_error", True),
        ("_TRANSPORT", "broker_error", True),
        ("NOT_ENOUGH_REPLICAS", "broker_error", True),
        ("NOT_LEADER_FOR_PARTITION", "broker_error", True),
        ("INVALID_REQUIRED_ACKS", "config_error", False),
        ("POLICY_VIOLATION", "broker_error", False),
        ("INVALID_TIMESTAMP", "broker_error", False),
    ])
    def test_codes(self, code: str, reason: str, retriable: bool) -> None:
        error = to_delivery_error(KafkaError(getattr(KafkaError, code)))
        assert (error.reason, error.retriable) == (reason, retriable)
        assert code in str(error)

    def test_librdkafka_retriable_flag_is_honoured_except_for_our_rule(self) -> None:
        assert to_delivery_error(KafkaError(KafkaError.POLICY_VIOLATION, retriable=True)).retriable
        assert not to_delivery_error(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, retriable=True)).retriable
        assert not to_delivery_error(KafkaError(KafkaError._AUTHENTICATION, retriable=True)).retriable

    def test_kafka_exception_unwrapped(self) -> None:
        error = to_delivery_error(ck.KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
        assert error.reason == "message_too_large"


# --- send / close against a scripted producer ------------------------------------------------------------------


class FakeMessage:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


class FakeProducer:
    """Stands in for ``confluent_kafka.Producer``: callbacks only run inside poll/flush, like librdkafka's.

    ``outcome(value)`` decides a record's report: ``None`` (delivered), a KafkaError code name (failed) or
    ``"hold"`` (in flight, no report yet). ``capacity`` bounds the queue (BufferError when full); ``frees``
    says whether poll drains it. ``sent`` holds records "on the wire" (purge(in_flight=False) keeps them).
    """

    def __init__(self, outcome: Callable[[bytes], str | None] = lambda v: None, capacity: int = 1_000_000,
                 frees: bool = True, on_first_poll: Callable[[], None] | None = None) -> None:
        self.outcome = outcome
        self.capacity = capacity
        self.frees = frees
        self.on_first_poll = on_first_poll
        self.queue: list[tuple[bytes, Callable[..., None]]] = []
        self.sent: list[tuple[bytes, Callable[..., None]]] = []
        self.reports: list[tuple[Callable[..., None], Any, bytes]] = []
        self.calls: list[str] = []
        self.produced = 0
        self.only_errors = False  # as delivery.report.only.error: no report for a delivered record

    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int = -1,  # noqa: PLR0917
                on_delivery: Callable[..., None] | None = None, timestamp: int = 0, headers: Any = None) -> None:
        assert on_delivery is not None
        if len(self.queue) + len(self.sent) >= self.capacity:
            raise BufferError("Local: Queue full")
        outcome = self.outcome(value)
        if outcome == "raise_size":
            raise ck.KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.queue.append((value, on_delivery))
        self.produced += 1

    def poll(self, timeout: float = 0) -> int:
        self.calls.append("poll")
        if self.on_first_poll is not None:
            hook, self.on_first_poll = self.on_first_poll, None
            hook()
        if self.frees:
            for value, callback in self.queue:
                outcome = self.outcome(value)
                if outcome == "hold":
                    self.sent.append((value, callback))
                elif outcome == "queue":
                    continue
                elif outcome is not None or not self.only_errors:
                    err = None if outcome is None else KafkaError(getattr(KafkaError, outcome))
                    self.reports.append((callback, err, value))
            self.queue = [(v, c) for v, c in self.queue if self.outcome(v) == "queue"]
        served = len(self.reports)
        reports, self.reports = self.reports, []
        for callback, err, value in reports:
            callback(err, FakeMessage(value))
        if not served and timeout:
            time.sleep(min(timeout, 0.01))
        return served

    def flush(self, timeout: float = -1) -> int:
        self.calls.append(f"flush({timeout:.2f})")
        self.poll(max(0.0, timeout))
        return len(self.queue) + len(self.sent)

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        self.calls.append(f"purge(in_queue={in_queue}, in_flight={in_flight})")
        if in_queue:
            self.reports += [(c, KafkaError(KafkaError._PURGE_QUEUE), v) for v, c in self.queue]
            self.queue = []
        if in_flight:
            self.reports += [(c, KafkaError(KafkaError._PURGE_INFLIGHT), v) for v, c in self.sent]
            self.sent = []

    def close(self) -> bool:
        self.calls.append("close")
        return True

    def __len__(self) -> int:
        return len(self.queue) + len(self.sent)


def messages(*values: bytes) -> list[Message]:
    return [Message("logs", None, v, 0) for v in values]


def transport_with(producer: FakeProducer) -> ConfluentTransport:
    transport = ConfluentTransport({"bootstrap_servers": ["127.0.0.1:9"]})
    transport._producer = producer
    return transport


def reasons(results: list[BaseException | None]) -> list[str | None]:
    return [None if r is None else r.reason if isinstance(r, DeliveryError) else type(r).__name__ for r in results]


class TestSend:
    def test_all_delivered(self) -> None:
        transport = transport_with(FakeProducer())
        assert transport.send(messages(b"a", b"b", b"c"), 5) == [None, None, None]

    def test_delivered_without_reports_failures_matched_by_value(self) -> None:
        """delivery.report.only.error: no report for delivered records (the queue emptied); a failure goes to a
        record with its value, each once (identical records are interchangeable)."""
        producer = FakeProducer(lambda v: "MSG_SIZE_TOO_LARGE" if v == b"big" else None)
        producer.only_errors = True
        results = transport_with(producer).send(messages(b"a", b"big", b"b", b"big", b"c"), 5)
        assert reasons(results) == [None, "message_too_large", None, "message_too_large", None]

    def test_waits_in_short_flush_slices(self) -> None:
        """flush() (not poll) while waiting: librdkafka sends at once instead of after linger.ms."""
        producer = FakeProducer()
        transport_with(producer).send(messages(b"a"), 5)
        assert producer.calls and producer.calls[0] == "flush(0.10)"

    def test_one_outcome_per_record_in_order(self) -> None:
        fates = {b"ok": None, b"big": "MSG_SIZE_TOO_LARGE", b"late": "_MSG_TIMED_OUT", b"auth": "_AUTHENTICATION"}
        transport = transport_with(FakeProducer(lambda v: fates[v]))
        results = transport.send(messages(b"ok", b"big", b"late", b"auth", b"ok"), 5)
        assert reasons(results) == [None, "message_too_large", "timeout", "auth_failed", None]
        assert [getattr(r, "retriable", None) for r in results] == [None, False, True, False, None]

    def test_synchronous_produce_error_mapped(self) -> None:
        transport = transport_with(FakeProducer(lambda v: "raise_size" if v == b"big" else None))
        results = transport.send(messages(b"a", b"big", b"b"), 5)
        assert reasons(results) == [None, "message_too_large", None]

    def test_full_queue_polls_and_retries(self) -> None:
        """BufferError: poll serves reports (freeing room) and produce is tried again; nothing is lost."""
        producer = FakeProducer(capacity=2)
        results = transport_with(producer).send(messages(*[b"%d" % i for i in range(7)]), 5)
        assert results == [None] * 7
        assert producer.produced == 7

    def test_queue_full_until_deadline_fails_rest_as_not_sent(self) -> None:
        producer = FakeProducer(capacity=2, frees=False)
        # promise checked: send returns by its timeout (plus seconds of slack) though room never appears
        results = finishes_within(0.3 + 5, lambda: transport_with(producer).send(
            messages(*[b"%d" % i for i in range(5)]), 0.3))
        assert all(isinstance(r, DeliveryError) and r.reason == "timeout" and r.retriable for r in results)
        assert "not sent" in str(results[4])

    def test_no_report_by_deadline(self) -> None:
        """Unsent records are purged (surely not delivered); records on the wire are purged too, and may still land
        later: each record's fate is then known (delivered unless reported failed)."""
        producer = FakeProducer(lambda v: {b"ok": None, b"wire": "hold", b"queued": "queue"}[v])
        started = time.monotonic()
        # promise checked: send waits its timeout for reports, and returns within it plus seconds of slack
        results = finishes_within(0.3 + 5, lambda: transport_with(producer).send(
            messages(b"ok", b"wire", b"queued"), 0.3))
        assert time.monotonic() - started >= 0.3 * 0.9  # a lower bound only grows under load
        assert reasons(results) == [None, "timeout", "timeout"]
        assert results[1] is not None and results[2] is not None
        assert results[1].retriable and "may still be written" in str(results[1])
        assert results[2].retriable and "purged" in str(results[2])
        assert "purge(in_queue=True, in_flight=True)" in producer.calls

    def test_all_brokers_down_fails_fast(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """error_cb saying all brokers are down ends the wait after STALL_GRACE, not after the full timeout."""
        monkeypatch.setattr(confluent, "STALL_GRACE", 0.2)
        transport = transport_with(FakeProducer(lambda v: "queue"))
        transport._producer.on_first_poll = lambda: transport._health.on_error(
            KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        results = finishes_within(0.2 + 10, lambda: transport.send(messages(b"a", b"b"), 30))  # far below 30 s
        assert reasons(results) == ["broker_error", "broker_error"]
        assert all(r is not None and r.retriable and "brokers are down" in str(r) for r in results)

    def test_authentication_failure_fails_fast_not_retriable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(confluent, "STALL_GRACE", 0.2)
        transport = transport_with(FakeProducer(lambda v: "queue"))
        transport._health.on_error(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error"))
        results = finishes_within(0.2 + 10, lambda: transport.send(messages(b"a"), 30))  # far below 30 s
        assert reasons(results) == ["auth_failed"] and results[0] is not None and not results[0].retriable

    def test_a_delivery_clears_the_broker_down_state(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(confluent, "STALL_GRACE", 0.2)
        transport = transport_with(FakeProducer())
        transport._health.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN))
        assert transport.send(messages(b"a"), 5) == [None]
        assert transport._health.blocking is None

    def test_fatal_error_makes_a_new_producer(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """After a fatal error (e.g. of the idempotent producer) the next send closes it and opens a new one."""
        old = FakeProducer()
        transport = transport_with(old)
        transport._health.on_error(KafkaError(KafkaError._FATAL, "fatal", fatal=True))
        new = FakeProducer()
        monkeypatch.setattr(transport, "open", lambda: setattr(transport, "_producer", new))
        assert transport.send(messages(b"a"), 5) == [None]
        assert "close" in old.calls and transport._producer is new and new.produced == 1
        assert transport._health.fatal is None

    def test_other_errors_only_remembered(self) -> None:
        """A single connection error (one broker of several) does not fail sends; it is quoted on timeout."""
        transport = transport_with(FakeProducer(lambda v: "queue"))
        transport._health.on_error(KafkaError(KafkaError._TRANSPORT, "b2:9092: Connection refused"))
        results = transport.send(messages(b"a"), 0.2)
        assert reasons(results) == ["timeout"] and "Connection refused" in str(results[0])

    def test_late_reports_do_not_touch_a_later_send(self) -> None:
        held = {b"first": "hold"}
        producer = FakeProducer(held.get)
        transport = transport_with(producer)
        assert reasons(transport.send(messages(b"first"), 0.1)) == ["timeout"]
        held.clear()
        producer.queue, producer.sent = producer.sent, []  # the old record's report arrives during the next send
        producer.outcome = lambda v: "MSG_SIZE_TOO_LARGE" if v == b"first" else None
        assert transport.send(messages(b"second"), 5) == [None]

    def test_librdkafka_logs_kept_not_printed(self, capsys: pytest.CaptureFixture[str]) -> None:
        transport = ConfluentTransport({"bootstrap_servers": ["127.0.0.1:9"]})
        transport._health.log(40, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "Connect failed")
        transport._health.log(20, "%s", "debug noise")
        assert transport._health.last_log == "FAIL [rdkafka#producer-1] Connect failed"
        assert capsys.readouterr() == ("", "")


class TestClose:
    def test_bounded_close_sequence(self) -> None:
        producer = FakeProducer(lambda v: "hold")
        transport = transport_with(producer)
        transport.send(messages(b"a"), 0.05)
        producer.calls.clear()
        finishes_within(0.5 + 5, lambda: transport.close(0.5))  # promise: close returns within its timeout
        assert producer.calls[0].startswith("flush(0.4")  # most of the budget, a little kept for purge and close
        assert producer.calls[1:] == ["poll", "purge(in_queue=True, in_flight=True)", "poll", "close"]
        assert transport._producer is None

    def test_close_never_raises(self) -> None:
        class Broken(FakeProducer):
            def flush(self, timeout: float = -1) -> int:
                raise RuntimeError("boom")

            def purge(self, *args: Any, **kwargs: Any) -> None:
                raise RuntimeError("boom")

            def close(self) -> bool:
                raise RuntimeError("boom")

        transport = transport_with(Broken())
        transport.close(0.1)
        transport.close(0.1)  # twice is fine

    def test_close_before_open_is_a_no_op(self) -> None:
        ConfluentTransport({"bootstrap_servers": ["127.0.0.1:9"]}).close(0)

    def test_real_producer_open_and_close_without_broker_is_quick(self) -> None:
        """open() is lazy (no network wait); close() returns within its timeout with nothing sent.

        Promise checked: open() then close(0.5) with no broker at all end within 0.5 s plus seconds.
        """
        transport = ConfluentTransport(make({}).transport_settings)
        finishes_within(0.5 + 5, lambda: (transport.open(), transport.close(0.5)))
        assert transport._producer is None

    def test_module_has_no_process_global_state(self) -> None:
        """Fork safety: every producer and its state belong to one transport instance."""
        a = ConfluentTransport({"bootstrap_servers": ["a:1"]})
        b = ConfluentTransport({"bootstrap_servers": ["a:1"]})
        assert a._health is not b._health
        mutable = {name for name, value in vars(confluent).items()
                   if isinstance(value, (list, set, dict)) and not name.isupper() and not name.startswith("__")}
        assert mutable <= {"_ALIASES", "_CHOICES", "_CASE_SENSITIVE_CHOICES", "_CANONICAL_TO_USER"}, mutable
