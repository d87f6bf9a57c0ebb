"""The test broker itself: if these fail, every integration test's failure is suspect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kafka_util import TopicFactory, count_records, read_records

from kafkalog.testing import LocalKafka, MissingToolError, fetch_kafka_jars, new_cluster_id


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, value=value).get(timeout=60)
    finally:
        producer.close(timeout=5)


@pytest.mark.integration
def test_produce_and_read_back(kafka_bootstrap: str, topic: str) -> None:
    values = [b"first", b"", json.dumps({"msg": "third", "n": 3}).encode()]

    _produce(kafka_bootstrap, topic, values)

    records = read_records(kafka_bootstrap, topic, expected=3)
    assert [r.value for r in records] == values
    assert [(r.topic, r.partition, r.offset) for r in records] == [(topic, 0, 0), (topic, 0, 1), (topic, 0, 2)]
    assert all(r.key is None and r.timestamp_ms > 0 for r in records)
    assert records[2].json() == {"msg": "third", "n": 3}
    assert count_records(kafka_bootstrap, topic) == 3


@pytest.mark.integration
def test_make_topic_partitions(kafka_bootstrap: str, make_topic: TopicFactory) -> None:
    from kafka import KafkaConsumer

    name = make_topic(3)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        assert consumer.partitions_for_topic(name) == {0, 1, 2}
    finally:
        consumer.close()
    assert count_records(kafka_bootstrap, name) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_restart_after_kill_keeps_address_and_data(private_kafka: LocalKafka) -> None:
    from kafka import KafkaProducer

    broker = private_kafka
    bootstrap, old_pid = broker.bootstrap, broker.pid
    broker.create_topic("restart-test")
    # A short reconnect backoff: the default grows to seconds while the broker is down.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", reconnect_backoff_max_ms=500)
    try:
        producer.send("restart-test", value=b"before").get(timeout=30)

        broker.kill()
        assert not broker.running
        broker.restart()

        assert broker.running
        assert broker.bootstrap == bootstrap
        assert broker.pid != old_pid
        # The same producer reconnects to the same address: what an outage test relies on.
        producer.send("restart-test", value=b"after").get(timeout=60)
    finally:
        producer.close(timeout=5)

    records = read_records(bootstrap, "restart-test", expected=2)
    assert [r.value for r in records] == [b"before", b"after"]


@pytest.mark.integration
def test_jar_cache_needs_no_maven_once_complete(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = fetch_kafka_jars()  # complete already, or fetched now
    monkeypatch.setenv("PATH", "")
    assert fetch_kafka_jars() == lib
    assert any(p.name.startswith("kafka-server-") for p in lib.iterdir())


def test_missing_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MissingToolError, match="`java`") as info:
        fetch_kafka_jars(cache_dir=tmp_path)
    assert isinstance(info.value, RuntimeError)
    assert info.value.tool == "java"
    assert not (tmp_path / "kafka-4.1.1" / "lib").exists()


def test_missing_maven_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java here")
    monkeypatch.setenv("JAVA_HOME", str(Path(java).resolve().parent.parent))
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MissingToolError, match="`mvn`") as info:
        fetch_kafka_jars(cache_dir=tmp_path)
    assert info.value.tool == "mvn"


def test_missing_tool_fails_before_starting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    broker = LocalKafka(workdir=tmp_path / "w")
    with pytest.raises(MissingToolError), broker:
        pass
    assert not broker.running


def test_cluster_ids_are_valid() -> None:
    ids = {new_cluster_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)


def test_env_overrides_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A complete-looking cache under $KAFKALOG_KAFKA_CACHE is used without Maven.
    home = tmp_path / "kafka-9.9.9"
    (home / "lib").mkdir(parents=True)
    (home / "lib" / "kafka-server-9.9.9.jar").write_bytes(b"")
    marker = {"kafka_version": "9.9.9", "log4j_version": "2.24.3", "jars": ["kafka-server-9.9.9.jar"]}
    (home / "fetch-complete.json").write_text(json.dumps(marker))
    monkeypatch.setenv("KAFKALOG_KAFKA_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", "")
    assert fetch_kafka_jars("9.9.9") == home / "lib"
    # A half-finished fetch (marker missing) is redone, which needs the tools.
    (home / "fetch-complete.json").unlink()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MissingToolError):
        fetch_kafka_jars("9.9.9")
