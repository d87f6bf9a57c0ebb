"""The pytest plugin without a broker: it loads cheaply, and ``kafka_capture`` gives what would be shipped.

Each test runs a user's test file in a fresh pytest process (``pytester.runpytest_subprocess``), where the plugin
is loaded the way users get it: through its ``pytest11`` entry point.
"""

from __future__ import annotations

import os

import pytest
from support import ROOT

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _checkout_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest runs in a temporary directory: make this checkout importable there as it is here (a venv
    that borrows the installed packages through a .pth, as ``make test-oldest`` builds, would not find it)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_loading_the_plugin_imports_no_kafkalog_and_starts_nothing(pytester: pytest.Pytester) -> None:
    """A run that uses no kafkalog fixture pays nothing: the package is not even imported."""
    pytester.makepyfile(
        """
        import sys

        def test_untouched(request):
            assert request.config.pluginmanager.get_plugin("kafkalog") is not None, "plugin not loaded"
            loaded = sorted(m for m in sys.modules if m == "kafkalog" or m.startswith("kafkalog."))
            assert loaded == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` shows every fixture of the plugin with its docstring."""
    result = pytester.runpytest_subprocess("--fixtures")
    for name in ("kafka_bootstrap", "kafka_broker", "kafka_topic", "kafka_topic_factory", "kafka_records",
                 "kafka_capture"):
        result.stdout.fnmatch_lines([f"{name}*"])


def test_capture_gives_the_records_of_handlers_and_sinks_as_shipped(pytester: pytest.Pytester) -> None:
    """dictConfig handler, directly built handler and loguru sink: records, topics and keys as a broker would get."""
    pytester.makepyfile(
        """
        import json, logging, logging.config
        import pytest
        from kafkalog import KafkaHandler, KafkaSink

        def test_dictconfig_handler(kafka_capture):
            logging.config.dictConfig({
                "version": 1,
                "handlers": {"kafka": {"class": "kafkalog.KafkaHandler", "bootstrap_servers": "kafka-1:9092",
                                       "topic": "logs-{type}", "key": "fields.user",
                                       "static_fields": {"service": "shop"}, "handle_sigterm": False}},
                "loggers": {"shop": {"level": "INFO", "handlers": ["kafka"], "propagate": False}},
            })
            logging.getLogger("shop").info("paid %s", 12, extra={"action": "pay", "user": "alice"})
            logging.getLogger("shop").warning("low stock")
            records = kafka_capture.records()
            assert [(r["msg"], r["type"], r["action"], r["service"]) for r in records] == [
                ("paid 12", "info", "pay", "shop"), ("low stock", "warning", "log", "shop")]
            assert records[0]["fields"] == {"user": "alice"}
            messages = kafka_capture.messages()
            assert [(m.topic, m.key) for m in messages] == [("logs-info", b"alice"), ("logs-warning", None)]
            assert [json.loads(m.value) for m in messages] == records
            assert kafka_capture.records("logs-warning") == records[1:]
            logging.config.dictConfig({"version": 1, "incremental": False})

        def test_handler_and_sink(kafka_capture, tmp_path):
            loguru = pytest.importorskip("loguru")
            handler = KafkaHandler("127.0.0.1:9092", "app", handle_sigterm=False)
            log = logging.Logger("direct")
            log.addHandler(handler)
            log.error("from logging")
            sink_id = loguru.logger.add(KafkaSink("127.0.0.1:9092", "app", handle_sigterm=False))
            try:
                loguru.logger.bind(action="ship").info("from loguru")
                # one worker per handler or sink: order holds within each, not across them
                assert sorted(r["msg"] for r in kafka_capture.records()) == ["from logging", "from loguru"]
            finally:
                loguru.logger.remove(sink_id)
                handler.close()
            kafka_capture.clear()
            assert kafka_capture.records() == []

        def test_options_are_still_checked(kafka_capture):
            with pytest.raises(ValueError, match="producer_config: unknown kafka-python option"):
                KafkaHandler("127.0.0.1:9092", "app", producer_config={"no_such_option": 1})

        def test_a_transport_object_of_the_tests_own_is_kept(kafka_capture):
            from kafkalog.transports import MemoryTransport
            mine = MemoryTransport()
            handler = KafkaHandler("127.0.0.1:9092", "app", transport=mine, handle_sigterm=False)
            log = logging.Logger("own")
            log.addHandler(handler)
            log.info("mine")
            assert handler.flush(5)
            assert len(mine.values()) == 1 and kafka_capture.records() == []
            handler.close()

        def test_no_capture_outside_the_fixture():
            from kafkalog import KafkaLogConfig
            assert KafkaLogConfig(bootstrap_servers="h:1", topic="t").transport_spec.name == "kafka-python"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_capture_stops_with_its_test(pytester: pytest.Pytester) -> None:
    """A handler made in a later test, without the fixture, uses the real transport again."""
    pytester.makepyfile(
        """
        from kafkalog import KafkaLogConfig

        def test_first(kafka_capture):
            assert KafkaLogConfig(bootstrap_servers="h:1", topic="t").transport_spec.factory != None

        def test_second():
            config = KafkaLogConfig(bootstrap_servers="h:1", topic="t")
            assert config.transport_spec.name == "kafka-python"
            assert "RecordCapture" not in repr(config.transport_spec.factory)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
