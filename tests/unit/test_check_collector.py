"""``kafkalog check`` on a configuration that hands over to a collector (``collector=``): the collector's steps,
against a live collector shipping into memory. The real-broker case is in tests/integration/test_check_collector.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkalog import KafkaLogConfig
from kafkalog.check import run_check
from kafkalog.cli import main
from kafkalog.collector import Collector, ListenSettings
from kafkalog.errors import DeliveryError, Reason
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message


def _collector(path: Path, transport: MemoryTransport, **listen: int) -> Collector:
    collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=transport,
                                         linger=0, delivery_timeout=1.0, retry_backoff_max=0.2),
                          ListenSettings(str(path), **listen))
    collector.start()
    return collector


@pytest.fixture
def shipping(tmp_path: Path) -> Iterator[tuple[Path, MemoryTransport]]:
    memory = MemoryTransport()
    collector = _collector(tmp_path / "c.sock", memory)
    yield tmp_path / "c.sock", memory
    collector.close(1.0)


def _steps(report: object) -> list[tuple[str, bool]]:
    return [(s.step, s.ok) for s in report.steps]  # type: ignore[attr-defined]


def test_a_shipping_collector_passes_every_step(shipping: tuple[Path, MemoryTransport]) -> None:
    path, memory = shipping
    report = run_check({"collector": str(path), "topic": "app-logs"}, timeout=20)
    assert _steps(report) == [("config", True), ("connect", True), ("authenticate", True), ("produce", True),
                              ("deliver", True), ("health", True)], report
    assert report.exit_code == 0
    assert any(b"kafkalog check probe" in value for value in memory.values())


def test_no_socket_is_a_connection_failure(tmp_path: Path) -> None:
    report = run_check({"collector": str(tmp_path / "none.sock"), "topic": "t"}, timeout=10)
    assert report.exit_code == 4
    assert "no socket at" in report.steps[-1].detail and "kafkalog collect" in report.steps[-1].detail


def test_a_socket_left_by_a_collector_that_is_gone_is_a_connection_failure(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # bound, never listening: what a killed collector leaves behind
        report = run_check({"collector": str(path), "topic": "t"}, timeout=10)
    assert report.exit_code == 4 and "nothing listens" in report.steps[-1].detail, report


def test_a_collector_that_refuses_this_process_is_an_authentication_failure(tmp_path: Path) -> None:
    """The collector closes the connection before WELCOME (a peer it does not allow, or no room): exit 5."""
    path = tmp_path / "c.sock"
    collector = _collector(path, MemoryTransport(), max_clients=1)
    try:
        with socket.socket(socket.AF_UNIX) as held:  # takes the one place
            held.connect(str(path))
            report = run_check({"collector": str(path), "topic": "t"}, timeout=10)
    finally:
        collector.close(1.0)
    assert report.exit_code == 5, report
    assert report.steps[-1].step == "connect" and "not allowed" in report.steps[-1].detail


def test_a_collector_that_cannot_ship_fails_the_round_trip(tmp_path: Path) -> None:
    """The probe is acknowledged, but the collector's broker refuses everything: exit 7 with its error."""
    def refuse(message: Message) -> BaseException:
        return DeliveryError(Reason.BROKER_UNAVAILABLE, "no broker", retriable=True)

    path = tmp_path / "c.sock"
    collector = _collector(path, MemoryTransport(outcome=refuse))
    try:
        report = run_check({"collector": str(path), "topic": "t"}, timeout=8)
    finally:
        collector.close(1.0)
    assert report.exit_code == 7, report
    assert ("produce", True) in _steps(report) and report.steps[-1].ok is False
    assert report.steps[-1].step in ("deliver", "health") and "no broker" in report.steps[-1].detail, report


def test_config_files_with_a_collector_handler_are_checked(shipping: tuple[Path, MemoryTransport],
                                                          tmp_path: Path) -> None:
    path, _ = shipping
    dict_config = tmp_path / "logging.json"
    dict_config.write_text(json.dumps({"version": 1, "handlers": {"kafka": {
        "class": "kafkalog.KafkaHandler", "collector": str(path), "topic": "app-logs"}}}))
    file_config = tmp_path / "logging.ini"
    file_config.write_text(f"[handlers]\nkeys=kafka\n\n[handler_kafka]\nclass=kafkalog.KafkaHandler\n"
                           f"args=()\nkwargs={{'collector': {str(path)!r}, 'topic': 'app-logs'}}\n")
    toml_config = tmp_path / "logging.toml"  # a dictConfig mapping written in TOML
    toml_config.write_text(f'version = 1\n[handlers.kafka]\nclass = "kafkalog.KafkaHandler"\n'
                           f'collector = "{path}"\ntopic = "app-logs"\n')
    for config_file in (dict_config, file_config, toml_config):
        report = run_check(config_file=config_file, timeout=20)
        assert report.exit_code == 0, report
        assert report.steps[0].detail.startswith("hands over to the collector at")


def test_command_line(shipping: tuple[Path, MemoryTransport], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = shipping
    assert main(["check", "--collector", str(path), "-t", "app-logs"]) == 0
    out = capsys.readouterr().out
    assert "ok   health: ships" in out and out.strip().endswith("ok: exit 0")
    assert main(["check", "--collector", str(path.parent / "none.sock"), "-t", "app-logs"]) == 4
