"""The local collector (``kafkalog collect``): processes hand records over a Unix socket, it ships them.

Every test runs the real command against the suite's broker and reads each record back by its sequence number.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_util import BROKER_CONNECTIONS, start_collector, stop_collector
from kafka_util import check_sequence, read_records, read_sequence
from support import python_script, wait_or_show_stacks, wait_until

from kafkalog.collector import _framing as wire
from kafkalog.transports.collector import query_stats

pytestmark = pytest.mark.integration


@pytest.fixture
def collector_sock(tmp_path: Path) -> Path:
    return tmp_path / "collector.sock"


@pytest.fixture
def collector(kafka_bootstrap: str, collector_sock: Path) -> Iterator[subprocess.Popen[str]]:
    proc = start_collector(kafka_bootstrap, collector_sock)
    yield proc
    stop_collector(proc)


CLIENT = """
    import json, logging, os, sys, time
    from kafkalog import KafkaHandler
    handler = KafkaHandler(collector={sock!r}, topic={topic!r}, close_timeout=30, delivery_timeout=300)
    log = logging.getLogger("app")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    slowest = 0.0
    for i in range({start}, {start} + {count}):
        t = time.perf_counter()
        log.info("record %d", i, extra={{"seq": i}})
        slowest = max(slowest, time.perf_counter() - t)
        if {pause} and i % 100 == 0:
            time.sleep({pause})
    handler.close()
    report = handler.close_report
    stats = handler.stats()
    # no Kafka client, nor the idna codec their host-name lookups load (a socket path needs neither)
    kafka = sorted(m for m in list(sys.modules) if m.split(".")[0] in ("kafka", "confluent_kafka")
                   or m == "encodings.idna")
    print(json.dumps({{"delivered": stats.delivered, "dropped": dict(stats.dropped), "kafka": kafka,
                      "slowest": slowest, "left": report.left}}))
"""


def client(sock: Path, topic: str, start: int, count: int, pause: float = 0.0) -> subprocess.Popen[str]:
    return python_script(CLIENT.format(sock=str(sock), topic=topic, start=start, count=count, pause=pause))


def client_result(proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    wait_or_show_stacks(proc, timeout)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


class TestManyProcesses:
    def test_fork_pool_and_plain_processes_through_one_collector(self, kafka_bootstrap: str, topic: str,
                                                                 collector: subprocess.Popen[str],
                                                                 collector_sock: Path) -> None:
        """A fork pool of 4 and 3 plain processes hand 7,000 records to one collector: each arrives once, and no
        process imports a Kafka client."""
        pool = python_script(f"""
            import json, logging, multiprocessing, os, sys
            from kafkalog import KafkaHandler
            handler = KafkaHandler(collector={str(collector_sock)!r}, topic={topic!r}, close_timeout=30)
            log = logging.getLogger("app")
            log.addHandler(handler)
            log.setLevel(logging.INFO)

            def work(start):
                for i in range(start, start + 1000):
                    log.info("record %d", i, extra={{"seq": i}})
                return sorted(m for m in list(sys.modules) if m.split(".")[0] in ("kafka", "confluent_kafka"))

            if __name__ == "__main__":
                pool = multiprocessing.get_context("fork").Pool(4)
                kafka = pool.map(work, [0, 1000, 2000, 3000])
                pool.close()
                pool.join()
                handler.close()
                kafka.append(sorted(m for m in list(sys.modules) if m.split(".")[0] in ("kafka", "confluent_kafka")))
                print(json.dumps(kafka))
        """)
        plain = [client(collector_sock, topic, 4000 + 1000 * n, 1000) for n in range(3)]
        wait_or_show_stacks(pool, 120)
        stdout, stderr = pool.communicate()
        assert pool.returncode == 0, stderr
        assert json.loads(stdout.strip().splitlines()[-1]) == [[]] * 5, "a pool process imported a Kafka client"
        for proc in plain:
            result = client_result(proc)
            assert result["kafka"] == [] and result["delivered"] == 1000, result
        check = read_sequence(kafka_bootstrap, topic, 7000)
        assert check.each_once, check.summary()
        stats = query_stats(str(collector_sock))
        assert stats["records"] == 7000 and stats["cut_off"] == {}, stats
        stderr = stop_collector(collector)  # SIGTERM: stop accepting, deliver, say so, exit 0
        assert collector.returncode == 0, stderr
        assert "stopped: 7000 records" in stderr and "delivered" in stderr and not collector_sock.exists(), stderr


class TestCollectorRestart:
    def test_collector_sigkilled_and_restarted_with_a_spool(self, kafka_bootstrap: str, topic: str,
                                                            collector_sock: Path, tmp_path: Path) -> None:
        """8 processes log while the collector (with a spool) is SIGKILLed and restarted: no logging call blocks,
        and every record arrives (acknowledged ones from the spool, the others sent again by their process) or
        is counted as dropped by its process."""
        spool = ["--spool-dir", str(tmp_path / "spool")]
        proc = start_collector(kafka_bootstrap, collector_sock, *spool)
        per_client = 2000
        clients = [client(collector_sock, topic, n * per_client, per_client, pause=0.02) for n in range(8)]
        try:
            wait_until(lambda: query_stats(str(collector_sock))["records"] >= 2000, timeout=60,
                       message="the clients did not start handing over")
            proc.kill()
            proc.wait()
            time.sleep(1.0)  # the clients keep logging with nobody to hand over to
            proc = start_collector(kafka_bootstrap, collector_sock, *spool)
            results = [client_result(c) for c in clients]
        finally:
            for c in clients:
                c.kill()
            stop_collector(proc)
        dropped = sum(sum(r["dropped"].values()) for r in results)
        assert all(r["slowest"] < 1.0 for r in results), results
        total = 8 * per_client
        records = read_records(kafka_bootstrap, topic, total - dropped, timeout=60)
        check = check_sequence((r.json()["fields"]["seq"] for r in records), total)
        assert len(check.lost) <= dropped, check.summary()
        # a batch written to the spool just before the kill, not yet acknowledged, is sent again: at most
        # one batch per client can arrive twice
        assert check.duplicate_count <= 8 * 500, check.summary()


class TestClientKilled:
    def test_records_acknowledged_before_a_client_sigkill_arrive(self, kafka_bootstrap: str, topic: str,
                                                                collector: subprocess.Popen[str],
                                                                collector_sock: Path, tmp_path: Path) -> None:
        """A process SIGKILLed mid-burst: every record the collector had acknowledged to it arrives, once."""
        mark = tmp_path / "acked"
        proc = python_script(f"""
            import logging, os
            from kafkalog import KafkaHandler
            handler = KafkaHandler(collector={str(collector_sock)!r}, topic={topic!r})
            log = logging.getLogger("app")
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            i = 0
            while True:
                for _ in range(200):
                    log.info("record %d", i, extra={{"seq": i}})
                    i += 1
                if handler.flush(30):
                    with open({str(mark)!r} + ".tmp", "w") as f:
                        f.write(str(i))
                    os.replace({str(mark)!r} + ".tmp", {str(mark)!r})
        """)
        try:
            wait_until(lambda: mark.exists() and int(mark.read_text()) >= 2000, timeout=60,
                       message="the client did not hand records over")
            proc.kill()  # mid-burst: records logged after the last acknowledgement are still in its queue
            proc.wait()
        finally:
            proc.kill()
            proc.communicate()
        acked = int(mark.read_text())
        records = read_records(kafka_bootstrap, topic, acked, timeout=60)
        check = check_sequence((r.json()["fields"]["seq"] for r in records), acked)
        assert not check.lost and not check.duplicates, check.summary()


class TestTrustBoundary:
    def test_socket_is_owner_only(self, collector: subprocess.Popen[str], collector_sock: Path) -> None:
        """The socket file is created 0600."""
        assert (collector_sock.stat().st_mode & 0o777) == 0o600

    @pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process of another uid")
    def test_a_process_of_another_uid_is_refused(self, kafka_bootstrap: str, tmp_path: Path) -> None:
        """A process of another user cannot hand records over: with the default 0600 the kernel refuses the
        connect; with the socket opened to everyone (0666), the collector's credential check refuses it."""
        shared = Path(tempfile.mkdtemp(prefix="kafkalog-collector-"))  # a directory the other user can reach
        shared.chmod(0o755)
        for mode, outcome in (("0600", "PermissionError"), ("0666", "closed")):
            sock = shared / f"c{mode}.sock"
            proc = start_collector(kafka_bootstrap, sock, "--socket-mode", mode)
            try:
                read, write = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child: become nobody, try to hand over a record
                    result = "?"
                    try:
                        os.setgid(65534)
                        os.setuid(65534)
                        with socket.socket(socket.AF_UNIX) as conn:
                            conn.settimeout(10)
                            conn.connect(str(sock))
                            conn.sendall(wire.encode_hello(os.getpid(), os.urandom(16)))
                            result = "welcomed" if conn.recv(64) else "closed"
                    except OSError as exc:
                        result = "closed" if isinstance(exc, ConnectionError) else type(exc).__name__
                    os.write(write, result.encode())
                    os._exit(0)
                os.close(write)
                os.waitpid(pid, 0)
                assert os.read(read, 100).decode() == outcome, mode
                os.close(read)
                if mode == "0666":
                    assert query_stats(str(sock))["refused"] == {"not_allowed": 1}
            finally:
                stop_collector(proc)
        shutil.rmtree(shared, ignore_errors=True)


class TestBadClients:
    def test_bad_clients_are_cut_off_and_the_others_records_all_arrive(self, kafka_bootstrap: str, topic: str,
                                                                       collector: subprocess.Popen[str],
                                                                       collector_sock: Path) -> None:
        """Garbage, an oversized frame, a truncated frame and a lying count are each cut off and counted; two
        good processes logging meanwhile deliver every record once."""
        good = [client(collector_sock, topic, n * 2000, 2000, pause=0.01) for n in range(2)]
        hello = wire.encode_hello(os.getpid(), os.urandom(16))
        valid = wire.encode_batch(1, [wire.Message(topic, None, b'{"x": 1}', 0)])
        bad_frames = {
            "bad_magic": os.urandom(64),
            "oversized": hello + wire.HEADER.pack(wire.MAGIC, wire.VERSION, wire.BATCH, 1 << 30),
            "truncated": hello + valid[:-3],
            "bad_count": hello + valid[:8 + 8] + (10**6).to_bytes(4, "big") + valid[20:],
            "unknown_type": hello + wire.frame(99, b"x"),
        }
        for payload in bad_frames.values():
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(10)
                conn.connect(str(collector_sock))
                conn.sendall(payload)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(4096):  # the collector closes the connection
                    pass
        for proc in good:
            assert client_result(proc)["delivered"] == 2000
        check = read_sequence(kafka_bootstrap, topic, 4000)
        assert check.each_once, check.summary()
        stats = query_stats(str(collector_sock))
        assert stats["cut_off"] == dict.fromkeys(bad_frames, 1), stats
        assert collector.poll() is None


CHURN = """
    import json, sys, threading, time
    from kafkalog.transports.collector import CollectorTransport
    from kafkalog.typing import Message

    def run(first, count):
        seq = first
        while seq < first + count:
            transport = CollectorTransport({sock!r})  # a new connection every few batches: clients come and go
            for _ in range(5):
                batch = [Message({topic!r}, None, json.dumps({{"fields": {{"seq": n}}}}).encode(), 0)
                         for n in range(seq, min(seq + 100, first + count))]
                if not batch:
                    break
                while any(transport.send(batch, 10.0)):  # busy or gone: send the same batch again
                    time.sleep(0.05)
                seq += len(batch)
            transport.close(1.0)

    threads = [threading.Thread(target=run, args=({first} + n * {per}, {per})) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
"""


def _peak_rss_kib(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class TestChurn:
    @pytest.mark.slow
    def test_sixty_four_clients_coming_and_going_keep_memory_bounded(self, kafka_bootstrap: str, topic: str,
                                                                     collector_sock: Path) -> None:
        """64 connections (8 processes x 8 threads) reconnecting every 5 batches hand over 64,000 records through
        a collector with a 16 MiB queue and 1 MiB frames: each arrives once, and the collector's peak memory
        grows by less than its bounds (queue + one frame per client) allow."""
        proc = start_collector(kafka_bootstrap, collector_sock, "--queue-max-bytes", str(16 << 20),
                               "--max-frame-bytes", str(1 << 20), transport="confluent")
        try:
            base, _ = _peak_rss_kib(proc.pid)
            per = 1000
            clients = [python_script(CHURN.format(sock=str(collector_sock), topic=topic, first=n * 8 * per, per=per))
                       for n in range(8)]
            for client_proc in clients:
                assert wait_or_show_stacks(client_proc, 240) == 0, client_proc.communicate()[1]
            wait_until(lambda: query_stats(str(collector_sock))["pipeline"]["pending"] == 0, timeout=120,
                       message="the collector did not deliver what it had taken")
            _, peak = _peak_rss_kib(proc.pid)
            stats = query_stats(str(collector_sock))
        finally:
            stop_collector(proc)
        check = read_sequence(kafka_bootstrap, topic, 64 * per)
        assert check.each_once, check.summary()
        bound_kib = (16 << 10) * 2 + 64 * (1 << 10) * 2  # queue (+ its objects), a frame and its copy per client
        assert peak - base < bound_kib, f"peak {peak} KiB, at start {base} KiB"
        assert stats["cut_off"] == {} and stats["records"] >= 64 * per, stats


class TestPreforkParent:
    def test_fork_pool_children_hand_over_to_the_parent(self, kafka_bootstrap: str, topic: str) -> None:
        """prefork_collector=True: 4 fork-pool children log 4,000 records; the parent ships them all (each once)
        and no child opens a broker connection."""
        port = int(kafka_bootstrap.rsplit(":", 1)[1])
        proc = python_script(f"""
            import json, logging, multiprocessing, os, sys
            from kafkalog import KafkaHandler
            {textwrap.indent(BROKER_CONNECTIONS, " " * 12).strip()}
            handler = KafkaHandler({kafka_bootstrap!r}, {topic!r}, prefork_collector=True, close_timeout=30)
            log = logging.getLogger("app")
            log.addHandler(handler)
            log.setLevel(logging.INFO)

            def work(start):
                for i in range(start, start + 1000):
                    log.info("record %d", i, extra={{"seq": i}})
                handler.flush(30)
                return broker_connections({port})

            if __name__ == "__main__":
                pool = multiprocessing.get_context("fork").Pool(4)
                connections = pool.map(work, [0, 1000, 2000, 3000])
                pool.close()
                pool.join()
                handler.close()
                print(json.dumps({{"children": connections, "delivered": handler.stats().delivered}}))
        """)
        wait_or_show_stacks(proc, 120)
        stdout, stderr = proc.communicate()
        assert proc.returncode == 0, stderr
        result = json.loads(stdout.strip().splitlines()[-1])
        assert result["children"] == [0, 0, 0, 0], result
        assert result["delivered"] == 4000, result  # the parent delivered the children's records
        check = read_sequence(kafka_bootstrap, topic, 4000)
        assert check.each_once, check.summary()
