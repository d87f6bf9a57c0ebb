"""`kafkalog tail --config-source etcd://...` against a real etcd server (Debian package etcd-server) and broker."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_util import TopicFactory, read_records
from support import ROOT, unused_port, wait_until
from tail_util import Writer, read_seqs, started_tail, stderr_of, stop_tail

pytestmark = [pytest.mark.integration]
etcd3gw = pytest.importorskip("etcd3gw")


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[str]:
    """A single-node etcd of the test's own; yields HOST:PORT."""
    binary = shutil.which("etcd")
    if binary is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    client, peer = unused_port(), unused_port()
    proc = subprocess.Popen(
        [binary, "--name", "t", "--data-dir", str(tmp_path / "etcd"),
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "etcd.log", "wb"))  # noqa: SIM115
    try:
        api = etcd3gw.client(host="127.0.0.1", port=client, timeout=2)

        def up() -> bool:
            try:
                api.status()
                return True
            except Exception:
                return False

        wait_until(up, 30, "etcd never answered")
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(30)


def test_inputs_from_etcd_key_follow_its_changes(etcd: str, kafka_bootstrap: str, make_topic: TopicFactory,
                                                 tmp_path: Path) -> None:
    """The key's inputs are followed; a put of new TOML adds input B at once, A's lines arrive once each."""
    host, port = etcd.split(":")
    api = etcd3gw.client(host=host, port=int(port))
    topic_a, topic_b = make_topic(), make_topic()
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    b.write_text("".join(f"seq {i}\n" for i in range(200)))
    api.put("kafkalog/tail", f'[[inputs]]\npaths = ["{a}"]\ntopic = "{topic_a}"\n')
    state = tmp_path / "state"
    proc = started_tail(kafka_bootstrap, "unused-default", state, "--config-source", f"etcd://{etcd}/kafkalog/tail")
    writer = Writer(a, 3_000)
    writer.start()
    wait_until(lambda: writer.written >= 1_000, 60, "writer stalled")
    api.put("kafkalog/tail", f'[[inputs]]\npaths = ["{a}"]\ntopic = "{topic_a}"\n\n'
                             f'[[inputs]]\npaths = ["{b}"]\ntopic = "{topic_b}"\n')
    records_b = read_records(kafka_bootstrap, topic_b, 200, timeout=60)
    api.put("kafkalog/tail", '[[inputs]]\npaths = ["/x"]\nbad_key = 1\n')  # a bad edit: kept running as it was
    writer.join(60)
    check = read_seqs(kafka_bootstrap, topic_a, 3_000)
    assert stop_tail(proc) == 0, stderr_of(state)
    assert check.each_once, check.summary()
    assert len(records_b) == 200
    err = stderr_of(state)
    assert "config reloaded" in err and "inputs[0].bad_key" in err and "keeping the current inputs" in err


def test_missing_key_is_rejected_at_start(etcd: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    """A key that does not exist stops the agent at start (exit 2), saying so."""
    proc = subprocess.run([sys.executable, "-m", "kafkalog", "tail", "--bootstrap-servers", kafka_bootstrap,
                           "--topic", "t", "--state-dir", str(tmp_path / "s"),
                           "--config-source", f"etcd://{etcd}/no/such/key"],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 2 and "the key does not exist" in proc.stderr
