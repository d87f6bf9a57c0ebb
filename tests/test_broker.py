"""The test broker itself: if these fail, every integration test's failure is suspect."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka_util import TopicFactory, count_records, read_records

from kafkalog.testing import (
    BrokerSecurity,
    KafkaBrokerError,
    LocalKafka,
    LocalKafkaCluster,
    MissingToolError,
    SaslUser,
    TlsFiles,
    fetch_kafka_jars,
    make_keystore,
    new_cluster_id,
)


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


def test_public_names_resolve() -> None:
    from kafkalog import testing
    from kafkalog.testing import broker

    assert all(getattr(testing, name) is not None for name in testing.__all__)
    assert all(getattr(broker, name) is not None for name in broker.__all__)
    assert broker.LocalKafka is testing.LocalKafka


@pytest.mark.integration
@pytest.mark.parametrize("module", ["kafkalog.testing", "kafkalog.testing.broker"])
def test_cli_fetch_only(module: str) -> None:
    """``python -m kafkalog.testing.broker`` (a path guessed from the layout) runs the same command."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--fetch-only"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kafka jars: ")
    assert Path(result.stdout.split(": ", 1)[1].strip()) == fetch_kafka_jars()


def test_secure_listeners_need_security_flag() -> None:
    broker = LocalKafka()
    with pytest.raises(KafkaBrokerError, match="security=True"):
        broker.bootstrap_for("SASL_SSL")
    with pytest.raises(KafkaBrokerError, match="security=True"):
        _ = broker.ca_file
    with pytest.raises(ValueError, match="protocol must be one of"):
        broker.bootstrap_for("SASL")
    with pytest.raises(KafkaBrokerError, match="not been started"):
        LocalKafka(security=True).bootstrap_for("SSL")


def test_client_config_uses_kafka_python_names(tmp_path: Path) -> None:
    from kafka import KafkaProducer

    security = BrokerSecurity(
        tls=TlsFiles(keystore=tmp_path / "s.p12", ca_file=tmp_path / "ca.pem", password="store-pw"),
        plain_user=SaslUser("alice", "alice-pw", "PLAIN"),
        scram_user=SaslUser("carol", "carol-pw", "SCRAM-SHA-256"),
    )
    sasl_ssl = security.client_config("SASL_SSL", "SCRAM-SHA-256")
    assert sasl_ssl == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "carol",
        "sasl_plain_password": "carol-pw",
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_check_hostname": True,
    }
    assert set(sasl_ssl) <= set(KafkaProducer.DEFAULT_CONFIG)
    assert security.client_config("SSL") == {
        "security_protocol": "SSL", "ssl_cafile": str(tmp_path / "ca.pem"), "ssl_check_hostname": True}
    with pytest.raises(ValueError, match="needs mechanism"):
        security.client_config("SASL_PLAINTEXT")
    assert "pw" not in repr(security.plain_user) + repr(security.tls)
    props = security.server_properties()
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256"
    assert 'user_alice="alice-pw"' in props["listener.name.sasl_ssl.plain.sasl.jaas.config"]


# Runs Java's keytool (5-20 s): with the broker's tests, once per run, not again on every Python of test-versions.
@pytest.mark.integration
def test_make_keystore_gives_a_usable_ca_file(tmp_path: Path) -> None:
    if shutil.which("java") is None:
        pytest.skip("no JDK here")
    files = make_keystore(tmp_path, "a")
    other = make_keystore(tmp_path, "b")
    assert files.keystore.is_file() and files.keystore.stat().st_size > 1000
    assert files.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert files.ca_file.read_text() != other.ca_file.read_text()
    assert files.password != other.password
    context = ssl.create_default_context(cafile=str(files.ca_file))  # parses as a trust anchor
    assert context.cert_store_stats()["x509"] == 1


@pytest.mark.integration
@pytest.mark.slow
def test_cluster_kill_and_restart_a_leader(kafka_cluster: LocalKafkaCluster) -> None:
    from kafka import KafkaProducer

    cluster = kafka_cluster
    assert all(cluster.running(n) for n in cluster.node_ids)
    cluster.create_topic("replicated")
    info = cluster.partition_info("replicated")
    assert sorted(info["replicas"]) == [1, 2, 3] and sorted(info["isr"]) == [1, 2, 3]
    leader = cluster.leader_of("replicated")
    assert leader in cluster.node_ids
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", reconnect_backoff_max_ms=500)
    try:
        producer.send("replicated", value=b"before").get(timeout=30)

        cluster.kill(leader)
        assert not cluster.running(leader) and cluster.pid(leader) is None
        deadline = time.monotonic() + 30
        while cluster.leader_of("replicated") in (leader, -1):
            assert time.monotonic() < deadline, "no new leader elected within 30 s"
            time.sleep(0.2)
        # Two replicas left: min.insync.replicas=2 still holds, so acks=all writes go on.
        producer.send("replicated", value=b"during").get(timeout=60)

        cluster.restart(leader)
        assert cluster.running(leader)
        deadline = time.monotonic() + 30
        while sorted(cluster.partition_info("replicated")["isr"]) != [1, 2, 3]:
            assert time.monotonic() < deadline, "restarted node did not rejoin the ISR within 30 s"
            time.sleep(0.2)
    finally:
        producer.close(timeout=5)
    records = read_records(cluster.bootstrap, "replicated", expected=2)
    assert [r.value for r in records] == [b"before", b"during"]
