"""One record contract: the handler, ``kafkalog tail`` and ``kafkalog check``'s probe build their records with
the same builder (:mod:`kafkalog._records`) and encode and route them with the same encoder
(:mod:`kafkalog._messages`). The tail's fast path is checked byte for byte in test_tail_plain.py and
test_ids.py; the probe against a real broker in tests/integration/test_check.py."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from kafkalog._messages import Messages
from kafkalog._records import BASE_KEYS, RESERVED_KEYS, RecordBuilder
from kafkalog.check import run_check
from kafkalog.check._run import _probe_message
from kafkalog.config import KafkaLogConfig
from kafkalog.tail._events import EventMaker
from kafkalog.tail._lines import Entry
from kafkalog.typing import Message


def _config(**options: Any) -> KafkaLogConfig:
    return KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="logs", hostname="web-3", **options)


def _messages(config: KafkaLogConfig, drops: list[str] | None = None) -> Messages:
    return Messages(config, on_drop=lambda reason, _: (drops if drops is not None else []).append(reason),
                    on_truncated=lambda: None)


def _handler_event(config: KafkaLogConfig, msg: str = "hello") -> dict[str, Any]:
    builder = RecordBuilder(host=config.host, default_action=config.default_action,
                            static_fields=config.static_fields)
    return builder.from_logging(logging.LogRecord("app", logging.INFO, "/app.py", 3, msg, (), None, "f"))


def test_a_tail_record_has_the_keys_of_a_handler_record_in_the_same_order() -> None:
    config = _config()
    handler = _handler_event(config)
    tail = EventMaker(host="web-3", fmt="text", static_fields={}).make("ERROR boom", "/var/log/a.log", 7, 1.5,
                                                                       "f1-2a")
    assert list(tail) == list(handler)
    assert set(tail) <= RESERVED_KEYS
    assert (tail["type"], tail["msg"], tail["file"], tail["line"], tail["id"], tail["fields"]) == \
        ("error", "ERROR boom", "/var/log/a.log", 7, "f1-2a", {"path": "/var/log/a.log"})


@pytest.mark.parametrize("options", [{}, {"redact": {"patterns": {"pin": r"pin=\d+"}}}, {"schema": "ecs"},
                                     {"headers": ["host"]}, {"key": "{host}"}])
def test_tail_lines_are_encoded_and_routed_as_the_handler_encodes_their_events(options: dict[str, Any]) -> None:
    """Whatever the options, a tail line's message is what the handler's encoder makes of its event (the fast
    path, when the options allow it, gives the same bytes)."""
    config = _config(**options)
    maker = EventMaker(host="web-3", fmt="text", static_fields={}, messages=_messages(config), topic="tail-topic")
    entries = [Entry("INFO pin=1234 ok", 1, 17), Entry("   ", 2, 21), Entry("warn x", 3, 28)]
    sent, owners, count = maker.entry_messages(entries, "/var/log/a.log", 1.5, "f1-")
    assert (owners, count) == ([0, 2], 2)
    for message, entry in zip(sent, (entries[0], entries[2]), strict=True):
        event = maker.make(entry.text, "/var/log/a.log", entry.line, 1.5, f"f1-{entry.end:x}")
        assert message == _messages(config).message_for(event, 1.5, "tail-topic")
    if options.get("redact"):
        assert b"1234" not in sent[0].value


@pytest.mark.parametrize("options", [{"redact": "secrets"}, {"schema": "ecs"}, {"headers": ["host"]},
                                     {"key": "{host}"}])
def test_the_fast_path_is_off_when_the_encoder_would_change_the_json(options: dict[str, Any]) -> None:
    assert _messages(_config(**options)).encoded_limit("t") == 0
    assert _messages(_config()).encoded_limit("t") == _config().max_message_bytes


def test_a_tail_line_too_large_is_dropped_by_the_shared_encoder() -> None:
    drops: list[str] = []
    config = _config(max_message_bytes=1024, oversize="drop")
    maker = EventMaker(host="web-3", fmt="text", static_fields={}, messages=_messages(config, drops), topic="t")
    sent, owners, count = maker.entry_messages([Entry("x" * 2000, 1, 2001), Entry("small", 2, 2007)], "/a", 1.0)
    assert (len(sent), owners, count, drops) == (1, [1], 2, ["too_large"])


def _probe(**options: Any) -> Message:
    message, marker = _probe_message(_config(**options), None)
    assert marker in message.value
    return message


def test_the_check_probe_is_the_record_a_handler_would_send() -> None:
    """Headers, key, schema and redaction of the configuration apply to the probe as to a handler's record."""
    message = _probe(headers={"team": "pay", "host": "{host}"}, key="{host}",
                     redact={"patterns": {"word": r"\bprobe\b"}})
    assert message.headers == (("team", b"pay"), ("host", b"web-3"))
    assert message.key == b"web-3"
    record = json.loads(message.value)
    assert record["msg"].startswith("kafkalog check [redacted:word] kafkalog-check-")
    assert (record["action"], record["host"], record["logger"]) == ("check", "web-3", "kafkalog.check")
    ecs = json.loads(_probe(schema="ecs").value)
    assert ecs["message"].startswith("kafkalog check probe kafkalog-check-")


def test_a_probe_whose_marker_is_redacted_fails_the_config_step() -> None:
    report = run_check({"bootstrap_servers": "127.0.0.1:9", "topic": "logs",
                        "redact": {"patterns": {"marker": r"kafkalog-check-\w+"}}}, timeout=5)
    assert report.exit_code == 3
    assert report.steps[-1].line() == ("FAIL config: the probe record's marker does not survive redaction or the "
                                       "cut to max_message_bytes, so it could not be read back")


def test_every_builder_starts_its_records_with_the_base_keys_in_order() -> None:
    """The builders write their keys as dict literals (for speed): each is held to ``BASE_KEYS`` here."""
    builder = RecordBuilder(host="h", default_action="log", static_fields={})
    loguru = pytest.importorskip("loguru")
    records: list[dict[str, Any]] = []
    sink_id = loguru.logger.add(lambda message: records.append(builder.from_loguru(message.record)))
    try:
        loguru.logger.info("from loguru")
    finally:
        loguru.logger.remove(sink_id)
    events = [builder.from_logging(logging.LogRecord("app", logging.INFO, "/app.py", 3, "m", (), None)),
              records[0], builder.from_structlog("info", {"event": "m"}, 1.0),
              builder.from_line("info", "t", "m", "/a.log", 1)]
    for event in events:
        assert tuple(event)[:len(BASE_KEYS)] == BASE_KEYS
        assert set(event) <= RESERVED_KEYS
