"""The shipped examples run against the suite's broker, and what they log is read back from Kafka."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kafka_util import count_records, read_records
from support import ROOT

pytestmark = pytest.mark.integration
EXAMPLES = ROOT / "examples"


def _run_example(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, check=False)


def test_demo_ships_its_three_records(kafka_bootstrap: str, tmp_path: Path) -> None:
    """examples/demo.py (dictConfig and loguru) exits 0, and its 3 records are in its topic, each once."""
    result = _run_example([str(EXAMPLES / "demo.py")], tmp_path, {"KAFKALOG_BOOTSTRAP": kafka_bootstrap})
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"topic (demo-logs-[0-9a-f]{8})", result.stdout)
    assert match, result.stdout
    events = [r.json() for r in read_records(kafka_bootstrap, match.group(1), 3)]
    assert [(e["msg"], e["service"]) for e in events] == [
        ("user alice paid", "billing"), ("charge failed", "billing"), ("parcel P-9 sent to Zürich", "checkout")]
    assert events[1]["exception"]["type"] == "KeyError"


def test_fileconfig_app_ships_its_four_records(kafka_bootstrap: str, tmp_path: Path) -> None:
    """examples/fileconfig_app.py (fileConfig, spool, console JSON) exits 0; its 4 records are in app-logs once."""
    before = count_records(kafka_bootstrap, "app-logs", timeout=1)  # the topic is fixed: other runs may have used it
    result = _run_example([str(EXAMPLES / "fileconfig_app.py"), kafka_bootstrap], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flushed=True" in result.stdout and "dropped={}" in result.stdout, result.stdout
    # the console handler got the warning, as JSON, on stderr
    console = [e for e in (json.loads(line) for line in result.stderr.splitlines() if line.startswith("{"))
               if e["logger"] == "inventory.sync"]
    assert [e["msg"] for e in console] == ["stock low"], result.stderr
    records = read_records(kafka_bootstrap, "app-logs", before + 4)
    pid = console[0]["pid"]
    mine = [r.json() for r in records if r.json()["pid"] == pid]
    assert [(e["msg"], e["service"]) for e in mine] == [
        ("synced A-1", "inventory"), ("synced B-2", "inventory"), ("synced C-3", "inventory"),
        ("stock low", "inventory")]


@pytest.mark.parametrize("mode", ["native", "stdlib"])
def test_structlog_app_ships_context_exception_and_trace(kafka_bootstrap: str, topic: str, tmp_path: Path,
                                                         mode: str) -> None:
    """examples/structlog_app.py, both ways: its two records arrive with bound values, keyword arguments,
    structlog.contextvars and kafkalog.bound values in fields, the exception, and one trace id as their key."""
    result = _run_example([str(EXAMPLES / "structlog_app.py"), mode], tmp_path,
                          {"KAFKA_BOOTSTRAP": kafka_bootstrap, "KAFKA_TOPIC": topic})
    assert result.returncode == 0, result.stdout + result.stderr
    records = read_records(kafka_bootstrap, topic, 2)
    priced, failed = (r.json() for r in records)
    assert (priced["type"], priced["msg"]) == ("info", "cart priced")
    # the stdlib logger's name; a native structlog logger has none: the module that logged
    assert priced["logger"] == ("checkout.api" if mode == "stdlib" else "__main__")
    assert priced["fields"] == {"tenant": "acme", "request_id": "r-1", "user": "alice", "items": 3, "total": 42.5}
    assert (failed["type"], failed["msg"]) == ("error", "payment failed")
    assert failed["fields"]["provider"] == "acme-pay" and failed["exception"]["type"] == "KeyError"
    assert failed["funcName"] == "handle_request" and failed["service"] == "checkout"
    assert len(priced["trace_id"]) == 32 and priced["trace_id"] == failed["trace_id"]
    assert {r.key for r in records} == {priced["trace_id"].encode()}
