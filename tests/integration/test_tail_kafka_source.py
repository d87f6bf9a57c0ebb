"""`kafkalog tail --config-source kafka://TOPIC/KEY`: the inputs' TOML in a compacted topic of the test broker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka_util import TopicFactory, count_records, read_records
from support import ROOT, wait_until
from tail_util import Writer, read_seqs, started_tail, stderr_of, stop_tail

import pytest_kafkalog
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration]
KEY = "hosts/web-1"
Send = Callable[[str, "str | None"], None]


@pytest.fixture
def config_topic(kafka_topic_factory: pytest_kafkalog.TopicFactory) -> str:
    return kafka_topic_factory(config={"cleanup.policy": "compact"})


@pytest.fixture
def send(kafka_bootstrap: str, config_topic: str) -> Iterator[Send]:
    """``send(key, toml_or_None)`` to the config topic: one record (None: a tombstone), acknowledged."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)

    def publish(key: str, value: str | None) -> None:
        producer.send(config_topic, key=key.encode(), value=None if value is None else value.encode()).get(30)

    yield publish
    producer.close()


def _inputs(*pairs: tuple[Path, str]) -> str:
    return "\n".join(f'[[inputs]]\npaths = ["{path}"]\ntopic = "{topic}"\n' for path, topic in pairs)


def test_inputs_from_a_compacted_topic_follow_its_new_records(kafka_bootstrap: str, make_topic: TopicFactory,
                                                              config_topic: str, send: Send, tmp_path: Path) -> None:
    """The key's latest record gives the inputs; a new one adds input B at once while A's lines arrive once each;
    an invalid value, then a tombstone, keep the inputs running as they were."""
    topic_a, topic_b = make_topic(), make_topic()
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    b.write_text("".join(f"seq {i}\n" for i in range(200)))
    send(KEY, _inputs((b, topic_b)))  # an older value: B must not be followed from it
    send("hosts/other", _inputs((b, topic_b)))  # another key
    send(KEY, _inputs((a, topic_a)))
    state = tmp_path / "state"
    proc = started_tail(kafka_bootstrap, "unused-default", state, "--config-source", f"kafka://{config_topic}/{KEY}")
    writer = Writer(a, 3_000)
    writer.start()
    wait_until(lambda: writer.written >= 1_000, 60, "writer stalled")
    send(KEY, _inputs((a, topic_a), (b, topic_b)))
    assert len(read_records(kafka_bootstrap, topic_b, 200, timeout=60)) == 200, stderr_of(state)
    send(KEY, '[[inputs]]\npaths = ["/x"]\nbad_key = 1\n')
    wait_until(lambda: "inputs[0].bad_key" in stderr_of(state), 30, "the invalid value was not reported")
    send(KEY, None)
    wait_until(lambda: "tombstone" in stderr_of(state), 30, "the tombstone was not reported")
    writer.join(60)
    check = read_seqs(kafka_bootstrap, topic_a, 3_000)
    assert stop_tail(proc) == 0, stderr_of(state)
    assert check.each_once, check.summary()
    err = stderr_of(state)
    assert "following 1 input(s)" in err and "config reloaded (2 input(s))" in err, err
    assert err.count("keeping the current inputs") == 2, err


def test_missing_key_is_rejected_at_start(kafka_bootstrap: str, config_topic: str, send: Send,
                                          tmp_path: Path) -> None:
    """A key with no record in the topic stops the agent at start (exit 2), saying so."""
    send("hosts/other", '[[inputs]]\npaths = ["/x"]\n')
    proc = subprocess.run([sys.executable, "-m", "kafkalog", "tail", "--bootstrap-servers", kafka_bootstrap,
                           "--topic", "t", "--state-dir", str(tmp_path / "s"),
                           "--config-source", f"kafka://{config_topic}/{KEY}"],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert f"no record with key '{KEY}' in topic '{config_topic}'" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_broker_lost_while_running_keeps_the_inputs_then_follows_new_records(private_kafka: LocalKafka,
                                                                             tmp_path: Path) -> None:
    """The broker (config topic and shipping) stopped while the agent runs and started again: the agent keeps its
    inputs, A's lines written meanwhile arrive once each, and a record published after the restart adds input B."""
    bootstrap = private_kafka.bootstrap
    config_topic, topic_a, topic_b = "tail-config", "tail-a", "tail-b"
    private_kafka.create_topic(config_topic, config={"cleanup.policy": "compact"})
    private_kafka.create_topic(topic_a)
    private_kafka.create_topic(topic_b)
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    b.write_text("".join(f"seq {i}\n" for i in range(100)))

    def publish(value: str) -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        try:
            producer.send(config_topic, key=KEY.encode(), value=value.encode()).get(60)
        finally:
            producer.close()

    publish(_inputs((a, topic_a)))
    state = tmp_path / "state"
    proc = started_tail(bootstrap, "unused-default", state, "--config-source", f"kafka://{config_topic}/{KEY}")
    writer = Writer(a, 4_000)
    writer.start()
    wait_until(lambda: count_records(bootstrap, topic_a) >= 500, 60, "nothing shipped before the outage")
    private_kafka.kill()
    wait_until(lambda: writer.written >= 2_500, 60, "writer stalled")
    assert proc.poll() is None, stderr_of(state)
    private_kafka.restart()
    publish(_inputs((a, topic_a), (b, topic_b)))
    assert len(read_records(bootstrap, topic_b, 100, timeout=120)) == 100, stderr_of(state)
    writer.join(60)
    check = read_seqs(bootstrap, topic_a, 4_000, timeout=120)
    assert stop_tail(proc) == 0, stderr_of(state)
    assert check.each_once, check.summary()
    assert "config reloaded (2 input(s))" in stderr_of(state), stderr_of(state)
