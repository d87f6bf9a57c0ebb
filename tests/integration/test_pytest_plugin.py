"""The pytest plugin against a real broker: a user's test file using ``kafka_bootstrap``, ``kafka_topic``,
``kafka_topic_factory`` and ``kafka_records``, once with the broker the plugin starts and once with
``$KAFKALOG_TEST_BOOTSTRAP`` pointing at a broker that already runs (this session's).

Each runs in a fresh pytest process (``pytester.runpytest_subprocess``) that loads the plugin by its entry point.
"""

from __future__ import annotations

import os

import pytest
from support import ROOT

import pytest_kafkalog

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _checkout_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest runs in a temporary directory: make this checkout importable there as it is here (a venv
    that borrows the installed packages through a .pth, as ``make test-oldest`` builds, would not find it)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

USER_TESTS = """
import logging, sys
import pytest
from kafkalog import KafkaHandler

def ship(bootstrap, topic, count):
    handler = KafkaHandler(bootstrap, topic, key="fields.n", handle_sigterm=False)
    log = logging.Logger("app")
    log.addHandler(handler)
    for n in range(count):
        log.info("record %d", n, extra={"n": n})
    handler.close()
    assert handler.stats().delivered == count, handler.stats()

def test_round_trip(kafka_bootstrap, kafka_topic, kafka_records):
    ship(kafka_bootstrap, kafka_topic, 5)
    records = kafka_records(kafka_topic, 5)
    assert [r["fields"]["n"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["msg"] == "record 0"

def test_to_the_end_of_a_topic_of_three_partitions(kafka_bootstrap, kafka_topic_factory, kafka_records):
    topic = kafka_topic_factory(partitions=3, config={"retention.ms": "600000"})
    ship(kafka_bootstrap, topic, 30)
    assert sorted(r["fields"]["n"] for r in kafka_records(topic)) == list(range(30))

def test_a_deadline_returns_what_arrived(kafka_bootstrap, kafka_topic, kafka_records):
    ship(kafka_bootstrap, kafka_topic, 1)
    assert len(kafka_records(kafka_topic, 2, timeout=2.0)) == 1

def test_each_test_gets_its_own_topic(kafka_topic, kafka_records, request):
    assert kafka_topic.startswith("t-test_each_test_gets_its_own_topic-")
    assert kafka_records(kafka_topic) == []
"""


def test_the_plugin_starts_a_broker_for_the_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    """Without ``$KAFKALOG_TEST_BOOTSTRAP`` the plugin starts a local broker (one per session) and stops it."""
    if pytest_kafkalog.external_bootstrap() is not None:
        pytest.skip(f"{pytest_kafkalog.BOOTSTRAP_ENV} is set: the suite is not to start brokers")
    monkeypatch.delenv(pytest_kafkalog.BOOTSTRAP_ENV, raising=False)
    pytester.makepyfile(USER_TESTS + """
def test_the_broker_is_the_plugins(kafka_broker, kafka_bootstrap):
    assert kafka_broker.running
    assert kafka_bootstrap == kafka_broker.bootstrap
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=5)


def test_an_existing_broker_from_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                 kafka_bootstrap: str) -> None:
    """With ``$KAFKALOG_TEST_BOOTSTRAP`` set no broker is started; ``kafka_broker`` skips its tests."""
    monkeypatch.setenv(pytest_kafkalog.BOOTSTRAP_ENV, kafka_bootstrap)
    pytester.makepyfile(USER_TESTS + f"""
def test_the_bootstrap_is_the_environments(kafka_bootstrap):
    assert kafka_bootstrap == {kafka_bootstrap!r}

def test_zz_no_broker_was_started():
    assert "kafkalog.testing.broker" not in sys.modules

def test_the_broker_fixture_skips(kafka_broker):
    raise AssertionError("not skipped")
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=6, skipped=1)
