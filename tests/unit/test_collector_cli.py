"""``kafkalog collect``: start-up errors and their exit codes, --stats and --health against a collector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkalog import KafkaLogConfig
from kafkalog.cli import main
from kafkalog.collector import Collector, ListenSettings
from kafkalog.transports import MemoryTransport


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "c.sock"
    collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=MemoryTransport()),
                          ListenSettings(str(path)))
    collector.start()
    yield path
    collector.close(1.0)


class TestStartErrors:
    def test_missing_socket_directory_exits_3(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["collect", "--socket", str(tmp_path / "nope" / "c.sock"), "--bootstrap-servers", "h:9092"])
        assert code == 3
        assert "does not exist" in capsys.readouterr().err

    def test_socket_of_a_running_collector_exits_1(self, running: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["collect", "--socket", str(running), "--bootstrap-servers", "h:9092"]) == 1
        assert "in use by a running collector" in capsys.readouterr().err
        assert running.exists()  # the running collector's socket is left alone

    def test_bad_option_exits_3_naming_it(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["collect", "--socket", str(tmp_path / "c.sock"), "--bootstrap-servers", "not-a-server"])
        assert code == 3
        assert "bootstrap_servers" in capsys.readouterr().err

    def test_missing_bootstrap_servers_exits_3(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["collect", "--socket", str(tmp_path / "c.sock")]) == 3
        assert "--bootstrap-servers" in capsys.readouterr().err


class TestStatsAndHealth:
    def test_stats_prints_json(self, running: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["collect", "--stats", "--socket", str(running)]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["records"] == 0 and "pipeline" in stats and isinstance(stats["clients"], list)

    def test_health_of_an_idle_collector_is_0(self, running: Path) -> None:
        assert main(["collect", "--health", "--socket", str(running)]) == 0

    def test_no_collector_exits_1(self, tmp_path: Path) -> None:
        assert main(["collect", "--health", "--socket", str(tmp_path / "none.sock")]) == 1
        assert main(["collect", "--stats", "--socket", str(tmp_path / "none.sock")]) == 1
