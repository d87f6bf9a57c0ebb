"""``kafkalog check`` on a logging config whose handler hands over to ``kafkalog collect``: the real command
against a running collector and the suite's broker; the probe record is read back from the topic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from collector_util import start_collector, stop_collector
from kafka_util import read_records
from support import ROOT

pytestmark = pytest.mark.integration


def _check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkalog", "check", "--config", str(config), "--timeout", "60"],
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def test_check_a_dict_config_that_hands_over_to_a_running_collector(kafka_bootstrap: str, topic: str,
                                                                     tmp_path: Path) -> None:
    """Every step passes and the probe record arrives in the topic through the collector; with the collector
    stopped, the same check fails at connect with exit 4 and says what to run."""
    sock = tmp_path / "collector.sock"
    config = tmp_path / "logging.json"
    config.write_text(json.dumps({"version": 1, "handlers": {"kafka": {
        "class": "kafkalog.KafkaHandler", "collector": f"unix://{sock}", "topic": topic}},
        "root": {"handlers": ["kafka"], "level": "INFO"}}))
    collector = start_collector(kafka_bootstrap, sock)
    try:
        passed = _check(config)
    finally:
        stop_collector(collector)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    lines = passed.stdout.splitlines()
    assert [line.split(":")[0].split()[-1] for line in lines[:-1]] == [
        "config", "connect", "authenticate", "produce", "deliver", "health"], passed.stdout
    records = read_records(kafka_bootstrap, topic, 1, timeout=60)
    assert len(records) == 1 and "kafkalog check probe" in records[0].json()["msg"], records

    failed = _check(config)
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert "FAIL [handlers.kafka] connect: no socket at" in failed.stdout, failed.stdout
