"""``kafkalog consume`` against the real broker, run as a user runs it (a child process reading stdout)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import socket
import subprocess
import sys
import time

import pytest
from consume_util import consume, finish, ndjson, produce_values, seqs, ship, start_consume
from kafka_util import check_sequence, read_records
from support import ROOT, wait_until

pytestmark = pytest.mark.integration
CLIENTS = ["kafka-python", "confluent"]


@pytest.mark.parametrize("client", CLIENTS)
def test_ndjson_gives_each_record_once_as_stored(kafka_bootstrap: str, make_topic, client: str) -> None:
    """Every record of a 3-partition topic, exactly once, each line the stored JSON object itself."""
    topic = make_topic(3)
    ship(kafka_bootstrap, topic, 300)
    result = consume(kafka_bootstrap, topic, "-o", "ndjson", "--client", client)
    assert result.returncode == 0, result.stderr
    check = check_sequence(seqs(ndjson(result.stdout)), 300)
    assert check.each_once, check.summary()
    stored = {r.value for r in read_records(kafka_bootstrap, topic, 300)}
    assert {line.encode() for line in result.stdout.splitlines()} == stored


def test_raw_writes_values_as_stored(kafka_bootstrap: str, topic: str) -> None:
    ship(kafka_bootstrap, topic, 20)
    produce_values(kafka_bootstrap, topic, [b"plain text", b"{not json"])
    result = consume(kafka_bootstrap, topic, "-o", "raw")
    assert result.returncode == 0, result.stderr
    stored = [r.value.decode() for r in read_records(kafka_bootstrap, topic, 22)]
    assert result.stdout.splitlines() == stored


def test_pretty_shows_time_level_logger_msg_fields_and_stack(kafka_bootstrap: str, topic: str) -> None:
    from support import isolated_logger

    from kafkalog import KafkaHandler

    handler = KafkaHandler(kafka_bootstrap, topic)
    log = isolated_logger("billing.api", handler)
    log.info("user %s paid", "alice", extra={"action": "pay", "amount": 12.5})
    try:
        {}["card"]
    except KeyError:
        log.exception("charge failed", extra={"order": "A-17"})
    handler.close()
    records = [r.json() for r in read_records(kafka_bootstrap, topic, 2)]
    result = consume(kafka_bootstrap, topic, "--color", "auto")  # stdout is a pipe: no colour
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    t0 = records[0]["time"]
    assert lines[0] == f"{t0[:10]} {t0[11:23]} INFO     billing.api: user alice paid  action=pay amount=12.5"
    assert lines[1].endswith("ERROR    billing.api: charge failed  order=A-17")
    assert lines[2] == "    Traceback (most recent call last):"
    assert lines[-1] == "    KeyError: 'card'"
    assert "\x1b[" not in result.stdout
    coloured = consume(kafka_bootstrap, topic, "--color", "always")
    assert "\x1b[32mINFO" in coloured.stdout and "\x1b[31mERROR" in coloured.stdout
    no_color = consume(kafka_bootstrap, topic, "--color", "auto", extra_env={"NO_COLOR": "1"})
    assert "\x1b[" not in no_color.stdout


def test_values_that_are_not_kafkalog_json_are_shown_raw(kafka_bootstrap: str, topic: str) -> None:
    """Not JSON, not UTF-8, JSON of another shape, no value at all: each shown, even under --level."""
    ship(kafka_bootstrap, topic, 1, level=logging.DEBUG)
    produce_values(kafka_bootstrap, topic, [b"plain text line", b"caf\xc3\xa9 \xff", b"[1,2]", b'{"other":1}',
                                            None, b"\x1b]0;pwned\x07"])
    pretty = consume(kafka_bootstrap, topic, "--level", "warning")
    assert pretty.returncode == 0, pretty.stderr
    lines = pretty.stdout.splitlines()
    assert len(lines) == 6, pretty.stdout  # the debug record is left out, nothing else
    assert [line.split(maxsplit=3)[2:] for line in lines] == [
        ["RAW", "plain text line"], ["RAW", "café \\xff"], ["RAW", "[1,2]"], ["JSON", '{"other":1}'],
        ["RAW", "<no value>"], ["RAW", "\\x1b]0;pwned\\x07"]]
    rows = ndjson(consume(kafka_bootstrap, topic, "-o", "ndjson", "--level", "warning").stdout)
    assert [r.get("raw") for r in rows] == ["plain text line", "café \\xff", "[1,2]", None, None, "\x1b]0;pwned\x07"]
    assert rows[3] == {"other": 1}
    assert [r["_kafka"]["offset"] for r in rows if "raw" in r] == [1, 2, 3, 5, 6]


def _mixed(bootstrap: str, topic: str) -> None:
    ship(bootstrap, topic, 4, start=0, logger="billing.api", level=logging.DEBUG, extra={"user": "alice"})
    ship(bootstrap, topic, 4, start=4, logger="billing", level=logging.WARNING, extra={"user": "bob"})
    ship(bootstrap, topic, 4, start=8, logger="billingx", level=logging.ERROR, message="timeout after {seq} s",
         extra={"user": "alice"})
    ship(bootstrap, topic, 4, start=12, logger="shipping", level=logging.CRITICAL, extra={"user": "alice",
                                                                                           "retry": True})


@pytest.mark.parametrize(("args", "expected"), [
    (["--level", "warning"], range(4, 16)),
    (["--level", "ERROR"], range(8, 16)),
    (["--level", "45"], range(12, 16)),
    (["--logger", "billing"], range(0, 8)),
    (["--logger", "billing*"], range(0, 12)),
    (["--logger", "billing.api", "--logger", "shipping"], [*range(0, 4), *range(12, 16)]),
    (["--grep", r"timeout after 1\d"], [10, 11]),
    (["--grep", "TIMEOUT", "-i"], range(8, 12)),
    (["--where", "user=bob"], range(4, 8)),
    (["--where", "fields.user=alice", "--where", "retry=true"], range(12, 16)),
    (["--where", "service=shop", "--where", "seq=3"], [3]),
    (["--level", "warning", "--logger", "billing", "--where", "user=bob", "--grep", "record [67]"], [6, 7]),
])
def test_filters(kafka_bootstrap: str, make_topic, args: list[str], expected: range) -> None:
    topic = make_topic(1)
    _mixed(kafka_bootstrap, topic)
    result = consume(kafka_bootstrap, topic, "-o", "ndjson", *args)
    assert result.returncode == 0, result.stderr
    assert seqs(ndjson(result.stdout)) == list(expected)


def test_from_variants(kafka_bootstrap: str, topic: str) -> None:
    ship(kafka_bootstrap, topic, 10, start=0)
    first = read_records(kafka_bootstrap, topic, 10)
    wait_until(lambda: time.time() * 1000 > first[-1].timestamp_ms + 5, 5, "clock did not move")
    ship(kafka_bootstrap, topic, 10, start=10)
    second = read_records(kafka_bootstrap, topic, 20)[10:]
    assert second[0].timestamp_ms > first[-1].timestamp_ms

    def run(where: str) -> list[int]:
        result = consume(kafka_bootstrap, topic, "-o", "ndjson", "--from", where)
        assert result.returncode == 0, result.stderr
        return seqs(ndjson(result.stdout))

    assert run("beginning") == list(range(20))
    assert run("end") == []
    assert run("15") == list(range(15, 20))
    assert run("-3") == [17, 18, 19]
    at = dt.datetime.fromtimestamp(second[0].timestamp_ms / 1000, dt.timezone.utc)
    assert run(at.isoformat()) == list(range(10, 20))
    assert run(at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) == list(range(10, 20))
    assert run(at.replace(tzinfo=None).isoformat()) == list(range(10, 20))  # no offset: UTC
    assert run(at.astimezone(dt.timezone(dt.timedelta(hours=5))).isoformat()) == list(range(10, 20))
    assert run("1d") == list(range(20))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert run(later.isoformat()) == []


def test_ends_at_the_end_of_the_topic_without_follow(kafka_bootstrap: str, make_topic) -> None:
    """Returns by itself (the run's timeout is the deadline), with partitions both full and empty."""
    topic = make_topic(3)
    produce_values(kafka_bootstrap, topic, [b"one"])  # one partition holds a record, the others none
    result = consume(kafka_bootstrap, topic, "-o", "raw", timeout=60)
    assert (result.returncode, result.stdout) == (0, "one\n"), result.stderr
    empty = make_topic(2)
    result = consume(kafka_bootstrap, empty, timeout=60)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


@pytest.mark.parametrize("client", CLIENTS)
def test_follow_picks_up_records_produced_later(kafka_bootstrap: str, topic: str, client: str) -> None:
    ship(kafka_bootstrap, topic, 1, start=0)
    proc = start_consume(kafka_bootstrap, topic, "--follow", "-o", "ndjson", "--client", client)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["fields"]["seq"] == 0  # it is reading
        ship(kafka_bootstrap, topic, 5, start=1)
        got = [json.loads(proc.stdout.readline())["fields"]["seq"] for _ in range(5)]
        assert got == [1, 2, 3, 4, 5]
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc)
        assert (proc.returncode, out, err) == (0, "", "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("client", "follow"), [("kafka-python", False), ("confluent", False),
                                               ("kafka-python", True)])
def test_group_commits_only_what_was_written(kafka_bootstrap: str, make_topic, client: str, follow: bool) -> None:
    """A run stopped by SIGTERM while its output is held up, then a second run of the same group: together
    they write every record of a 3-partition topic exactly once, and the first stopped part-way."""
    topic = make_topic(3)
    total = 30_000
    ship(kafka_bootstrap, topic, total)
    group = f"g-{topic}"
    proc = start_consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson", "--client", client,
                         *(["--follow"] if follow else []))
    try:
        assert proc.stdout is not None
        first = [json.loads(proc.stdout.readline()) for _ in range(100)]  # it is writing, and waits for us
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err) == (0, "")
    first += ndjson(out)
    assert 100 <= len(first) < total
    second = consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson", "--client", client)
    assert second.returncode == 0, second.stderr
    check = check_sequence(seqs(first) + seqs(ndjson(second.stdout)), total)
    assert check.each_once, check.summary()
    again = consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson", "--client", client)
    assert (again.returncode, again.stdout) == (0, "")  # all committed


def test_group_after_sigkill_loses_nothing(kafka_bootstrap: str, topic: str) -> None:
    """Killed outright mid-way: the next run may repeat records (the last commit interval), never skips one."""
    total = 30_000
    ship(kafka_bootstrap, topic, total)
    group = f"g-{topic}"
    proc = start_consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson")
    try:
        assert proc.stdout is not None
        first = [json.loads(proc.stdout.readline()) for _ in range(100)]
        proc.kill()
        out, _ = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    first += [json.loads(line) for line in out.splitlines() if line.endswith("}")]  # the last line may be cut
    assert len(first) < total
    second = consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson")
    assert second.returncode == 0, second.stderr
    check = check_sequence(seqs(first) + seqs(ndjson(second.stdout)), total)
    assert not check.lost, check.summary()


def test_group_with_max_records_resumes_after_the_last_written(kafka_bootstrap: str, topic: str) -> None:
    ship(kafka_bootstrap, topic, 50)
    group = f"g-{topic}"
    parts = []
    for _ in range(3):
        result = consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson", "-n", "20", "--level", "info")
        assert result.returncode == 0, result.stderr
        parts.append(seqs(ndjson(result.stdout)))
    assert parts == [list(range(20)), list(range(20, 40)), list(range(40, 50))]


def test_closed_pipe_ends_quietly_with_exit_0(kafka_bootstrap: str, topic: str) -> None:
    ship(kafka_bootstrap, topic, 20_000)
    cmd = (f"set -o pipefail; PYTHONPATH={ROOT} {sys.executable} -m kafkalog consume "
           f"-b {kafka_bootstrap} -t {topic} -o ndjson | head -n 3")
    result = subprocess.run(["bash", "-c", cmd], check=False, capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert (result.returncode, result.stderr) == (0, "")
    assert seqs(ndjson(result.stdout)) == [0, 1, 2]


def test_follow_into_head_ends_quietly_at_the_next_record(kafka_bootstrap: str, topic: str) -> None:
    """``--follow | head -n 1``: small writes, so the closed pipe shows at a flush with the data still buffered;
    the command must still end with 0 and nothing on stderr (no "Exception ignored" at exit)."""
    ship(kafka_bootstrap, topic, 1)
    cmd = (f"set -o pipefail; PYTHONPATH={ROOT} {sys.executable} -m kafkalog consume -b {kafka_bootstrap} "
           f"-t {topic} --follow -o ndjson | head -n 1")
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["fields"]["seq"] == 0
        more = iter(range(1, 1000))

        def ended() -> bool:
            if proc.poll() is not None:
                return True
            ship(kafka_bootstrap, topic, 1, start=next(more))  # each one makes the command write again
            return False

        wait_until(ended, 60, "consume --follow did not end after head closed the pipe")
        _, err = finish(proc)
        assert (proc.returncode, err) == (0, "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("schema", ["ecs", "otlp"])
def test_ecs_and_otlp_records_are_read_as_records(kafka_bootstrap: str, topic: str, schema: str) -> None:
    ship(kafka_bootstrap, topic, 3, start=0, logger="billing.api", level=logging.INFO, schema=schema)
    ship(kafka_bootstrap, topic, 2, start=3, logger="billing.api", level=logging.ERROR, schema=schema,
         message="failed {seq}", extra={"user": "bob"})
    result = consume(kafka_bootstrap, topic, "--level", "error", "--logger", "billing", "--where", "user=bob")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(maxsplit=2)[2] for line in lines] == [
        "ERROR    billing.api: failed 3  seq=3 user=bob", "ERROR    billing.api: failed 4  seq=4 user=bob"]


def test_bad_options_exit_2_naming_the_option(kafka_bootstrap: str, topic: str) -> None:
    for args, name in ((["--from", "yesterday"], "--from"), (["--level", "loud"], "--level"),
                       (["--grep", "("], "--grep"), (["--where", "novalue"], "--where")):
        result = consume(kafka_bootstrap, topic, *args)
        assert result.returncode == 2 and result.stderr.startswith(f"kafkalog consume: {name}:"), result.stderr


def _check(bootstrap: str, topic: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkalog", "check", "-b", bootstrap, "-t", topic, "--timeout", "5"],
                          check=False, capture_output=True, text=True, timeout=90, cwd=ROOT)


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_a_missing_topic_or_a_closed_port_ends_within_the_timeout_as_check_says(kafka_bootstrap: str, topic: str,
                                                                               client: str) -> None:
    """The same plain message and exit code as ``kafkalog check`` (6 topic, 4 connection), within --timeout 5
    (plus a margin for a busy machine), whichever client reads."""
    began = time.monotonic()
    missing = consume(kafka_bootstrap, f"{topic}-missing", "--transport", client, "--timeout", "5")
    took = time.monotonic() - began
    assert missing.returncode == 6, missing.stderr
    assert missing.stderr == f"kafkalog consume: topic: '{topic}-missing' does not exist\n"
    assert took < 5 + 10, took
    closed = _closed_port()
    began = time.monotonic()
    refused = consume(closed, topic, "--transport", client, "--timeout", "5")
    took = time.monotonic() - began
    assert refused.returncode == 4, refused.stderr
    checked = _check(closed, topic)
    assert checked.returncode == 4
    failed = next(line for line in checked.stdout.splitlines() if line.startswith("FAIL connect: "))
    assert refused.stderr == f"kafkalog consume: connect: {failed.removeprefix('FAIL connect: ')}\n"
    assert "Connection refused" in refused.stderr and "KafkaException" not in refused.stderr
    assert took < 5 + 10, took


def test_group_commits_nothing_of_a_batch_the_closed_pipe_refused(kafka_bootstrap: str, topic: str) -> None:
    """``| head -n 3`` takes 3 lines and closes the pipe while the batch is still being written: nothing of that
    batch counts as written, so the group's next run starts at the first record again."""
    ship(kafka_bootstrap, topic, 20_000)
    group = f"g-{topic}"
    cmd = (f"set -o pipefail; PYTHONPATH={ROOT} {sys.executable} -m kafkalog consume -b {kafka_bootstrap} "
           f"-t {topic} --group {group} -o ndjson | head -n 3")
    result = subprocess.run(["bash", "-c", cmd], check=False, capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert (result.returncode, result.stderr) == (0, "")
    again = consume(kafka_bootstrap, topic, "--group", group, "-o", "ndjson", "-n", "3")
    assert seqs(ndjson(again.stdout)) == [0, 1, 2]
