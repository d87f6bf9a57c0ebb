"""Levels from a compacted topic against the real broker: ``kafkalog levels set`` reaches three running processes
(one forked from another), ends by itself, and a garbage value changes nothing and is reported once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import ROOT, python_script, wait_or_show_stacks

from kafkalog._levels_topic import publish

pytestmark = pytest.mark.integration

KEY = "billing-fleet"
FOLLOWER = """
    import logging, os, sys, time
    from kafkalog import KafkaHandler
    out = {out!r}
    name = {name!r}

    def report(text):
        with open(os.path.join(out, name + ".err"), "a") as f:
            f.write(text + "\\n")

    handler = KafkaHandler({bootstrap!r}, {log_topic!r}, levels_from="kafka://{topic}/{key}", on_error=report,
                           error_interval=0, handle_sigterm=False, close_timeout=1)
    logging.getLogger("billing.api").setLevel(logging.INFO)
    if {fork!r} and os.fork() == 0:
        name = name + "-child"
    while not os.path.exists(os.path.join(out, "stop")):
        level = logging.getLevelName(logging.getLogger("billing.api").level)
        with open(os.path.join(out, name + ".tmp"), "w") as f:
            f.write(level)
        os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
        time.sleep(0.05)
    handler.close(1)
    os._exit(0)
"""
NAMES = ("a", "a-child", "b")


def _levels(out: Path) -> dict[str, str]:
    return {name: (out / name).read_text() if (out / name).exists() else "" for name in NAMES}


def _wait_all(out: Path, level: str, timeout: float) -> float:
    """Seconds until every process shows ``level`` (polling); fails with what they show after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if all(v == level for v in _levels(out).values()):
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"not all {level} after {timeout} s: {_levels(out)}")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkalog", "levels", *args], check=False,
                          capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_set_reaches_three_processes_expires_and_garbage_is_ignored(kafka_bootstrap: str, make_topic,
                                                                      kafka_topic_factory, tmp_path: Path) -> None:
    topic = kafka_topic_factory(config={"cleanup.policy": "compact"})
    log_topic = make_topic()
    procs = [python_script(FOLLOWER.format(out=str(tmp_path), name=name, bootstrap=kafka_bootstrap,
                                           log_topic=log_topic, topic=topic, key=KEY, fork=fork))
             for name, fork in (("a", True), ("b", False))]
    try:
        _wait_all(tmp_path, "INFO", 60)
        where = ("-b", kafka_bootstrap, "-t", topic, "--key", KEY)
        start = time.monotonic()
        done = _cli("set", "billing.api=DEBUG", "--for", "8s", *where)
        assert done.returncode == 0, done.stderr
        assert "billing.api=DEBUG until" in done.stdout
        _wait_all(tmp_path, "DEBUG", 30)
        print(f"DEBUG in all three processes {time.monotonic() - start:.1f} s after `kafkalog levels set` started")
        _wait_all(tmp_path, "INFO", 60)  # the change ends by itself

        assert _cli("set", "billing.api=DEBUG", *where).returncode == 0
        _wait_all(tmp_path, "DEBUG", 30)
        # a process started now reads the current value
        procs.append(python_script(FOLLOWER.format(out=str(tmp_path), name="late", bootstrap=kafka_bootstrap,
                                                   log_topic=log_topic, topic=topic, key=KEY, fork=False)))
        deadline = time.monotonic() + 60
        while not ((tmp_path / "late").exists() and (tmp_path / "late").read_text() == "DEBUG"):
            assert time.monotonic() < deadline, "a process started later did not pick up the current value"
            time.sleep(0.05)
        publish(kafka_bootstrap, topic, KEY, b"garbage{")
        publish(kafka_bootstrap, topic, KEY, b"garbage{")
        deadline = time.monotonic() + 30
        while not all((tmp_path / f"{n}.err").exists() for n in NAMES):
            assert time.monotonic() < deadline, list(tmp_path.iterdir())
            time.sleep(0.05)
        time.sleep(1.0)  # time for the second garbage value to be read (it must not be reported again)
        assert _levels(tmp_path) == dict.fromkeys(NAMES, "DEBUG")
        for name in NAMES:
            reports = (tmp_path / f"{name}.err").read_text().splitlines()
            assert [r for r in reports if "invalid value" in r] == reports and len(reports) == 1, reports
        got = _cli("get", *where)
        assert got.returncode == 0 and "not a valid levels value" in got.stdout, got
        assert _cli("reset", *where).returncode == 0
        _wait_all(tmp_path, "INFO", 30)
    finally:
        (tmp_path / "stop").touch()
        for proc in procs:
            wait_or_show_stacks(proc, 60)


def test_set_prints_what_get_reads_and_a_missing_topic_says_so(kafka_bootstrap: str, kafka_topic_factory) -> None:
    """The "until" that set prints is the one stored (it was computed twice, and could differ by a second); a topic
    that does not exist is said plainly, with kafkalog check's exit code for it."""
    topic = kafka_topic_factory(config={"cleanup.policy": "compact"})
    where = ("-b", kafka_bootstrap, "-t", topic, "--key", KEY)
    done = _cli("set", "billing.api=DEBUG", "--for", "15m", *where)
    assert done.returncode == 0, done.stderr
    got = _cli("get", *where)
    assert (got.returncode, got.stdout) == (0, done.stdout)
    missing = _cli("get", "-b", kafka_bootstrap, "-t", f"{topic}-missing", "--key", KEY)
    assert (missing.returncode, missing.stderr.strip()) == (
        6, f"kafkalog levels get: topic '{topic}-missing' not found")
