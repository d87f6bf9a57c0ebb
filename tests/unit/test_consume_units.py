"""Unit tests of kafkalog.consume's own logic: --from, levels, reading each schema, filters, output formats, and
the session loop over a fake reader (end of topic, --max-records, what a group commits, a closed pipe)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from support import isolated_logger

from kafkalog import KafkaHandler
from kafkalog.consume import ConsumeOptions, Filters, Session, Start, parse_start
from kafkalog.consume.levels import parse_level
from kafkalog.consume.output import NdjsonFormat, RawFormat
from kafkalog.consume.pretty import PrettyFormat, safe, use_color
from kafkalog.consume.reader import Message
from kafkalog.consume.session import write_all
from kafkalog.consume.view import parse
from kafkalog.errors import ConfigError
from kafkalog.transports import MemoryTransport

NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.mark.parametrize(("text", "start"), [
    ("beginning", Start("beginning")), ("END", Start("end")), ("42", Start("offset", 42)),
    ("-5", Start("tail", 5)), ("10m", Start("time", _ms(NOW - dt.timedelta(minutes=10)))),
    ("1.5h", Start("time", _ms(NOW - dt.timedelta(hours=1.5)))),
    ("2026-12-02T14:00:00Z", Start("time", _ms(NOW - dt.timedelta(hours=1)))),
    ("2026-12-02T14:00", Start("time", _ms(NOW - dt.timedelta(hours=1)))),  # no offset: UTC
    ("2026-12-02T16:00:00+02:00", Start("time", _ms(NOW - dt.timedelta(hours=1)))),
    ("2026-12-02", Start("time", _ms(NOW - dt.timedelta(hours=15)))),
])
def test_parse_start(text: str, start: Start) -> None:
    assert parse_start(text, now=NOW) == start


def test_parse_start_refuses_naming_the_option() -> None:
    with pytest.raises(ConfigError, match=r"--from: 'yesterday' is not one of: beginning, end"):
        parse_start("yesterday")


@pytest.mark.parametrize(("start", "begin", "end", "at_time", "offset"), [
    (Start("beginning"), 5, 20, None, 5), (Start("end"), 5, 20, None, 20), (Start("offset", 2), 5, 20, None, 5),
    (Start("offset", 30), 5, 20, None, 20), (Start("tail", 3), 5, 20, None, 17), (Start("tail", 99), 5, 20, None, 5),
    (Start("time", 1), 5, 20, 12, 12), (Start("time", 1), 5, 20, None, 20),
])
def test_start_resolves_within_the_partition(start: Start, begin: int, end: int, at_time: int | None,
                                             offset: int) -> None:
    assert start.resolve(begin, end, at_time) == offset


def test_levels() -> None:
    assert [parse_level(x) for x in ("warning", "WARN", "error", "25", "trace", "critical")] == [30, 30, 40, 25, 5, 50]
    with pytest.raises(ConfigError, match="--level: 'loud' is not a level"):
        parse_level("loud")


def _shipped(schema: str, level: int = logging.ERROR, exc: bool = True) -> bytes:
    memory = MemoryTransport()
    handler = KafkaHandler("127.0.0.1:9", "t", transport=memory, schema=schema, static_fields={"service": "shop"})
    log = isolated_logger("billing.api", handler)
    try:
        raise KeyError("card")
    except KeyError:
        log.log(level, "charge failed", exc_info=exc, extra={"action": "pay", "user": "bob", "n": 3})
    handler.close()
    return memory.values()[0]


@pytest.mark.parametrize("schema", ["kafkalog", "ecs", "otlp"])
def test_each_schema_reads_as_the_same_record(schema: str) -> None:
    view = parse(_shipped(schema))
    assert (view.kind, view.level, view.levelno, view.logger, view.msg, view.action) == (
        schema, "error", 40, "billing.api", "charge failed", "pay")
    assert view.fields["user"] == "bob" and view.fields["n"] == 3
    assert view.exception is not None and view.exception["stack"].startswith("Traceback")
    assert view.exception["type"] == "KeyError"
    assert view.time is not None and view.time.startswith(dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"))
    assert view.lookup("user") == (True, "bob")
    service_key = "service" if schema == "kafkalog" else "service.name"
    assert view.lookup(service_key) == (True, "shop")


@pytest.mark.parametrize(("value", "kind"), [
    (b"", "raw"), (None, "raw"), (b"text", "raw"), (b"\xff\xfe", "raw"), (b"[1]", "raw"), (b'"s"', "raw"),
    (b'{"a":1}', "json"), (b'{"msg":1}', "json"), (b'{"resourceLogs":[{},{}]}', "json"),
    (b'{"resourceLogs":"x"}', "json"),
])
def test_values_that_are_not_records(value: bytes | None, kind: str) -> None:
    view = parse(value)
    assert view.kind == kind and not view.is_log


def test_lookup_follows_dots_and_literal_dotted_names() -> None:
    view = parse(b'{"@timestamp":"2026-12-02T15:00:00Z","log.level":"info","message":"m",'
                 b'"http":{"request":{"method":"GET"}},"a.b":{"c":1}}')
    assert view.kind == "ecs"
    assert view.lookup("http.request.method") == (True, "GET")
    assert view.lookup("a.b.c") == (True, 1)
    assert view.lookup("http.nope") == (False, None)


def _view(level: str = "info", logger: str | None = "billing.api", msg: str = "paid", **fields: Any) -> Any:
    record = {"type": level, "action": "log", "time": "2026-12-02T15:00:00.123456+00:00", "msg": msg,
              "fields": fields, "logger": logger, "service": "shop"}
    return parse(json.dumps(record).encode())


def test_filters_combine_and_each_one_filters() -> None:
    f = Filters.build(level="warning", loggers=["billing"], grep="pa.d", where=["user=bob", "n=3"])
    assert f(_view("error", user="bob", n=3))
    assert not f(_view("info", user="bob", n=3))
    assert not f(_view("error", logger="billingx", user="bob", n=3))
    assert not f(_view("error", logger=None, user="bob", n=3))
    assert not f(_view("error", msg="failed", user="bob", n=3))
    assert not f(_view("error", user="alice", n=3))
    assert not f(_view("error", user="bob", n=4))
    assert f(_view("error", user="bob", n=3.0))
    assert Filters.build(where=["ok=true", "none=null", "tags=[1,2]", "service=shop"])(
        _view(ok=True, none=None, tags=[1, 2]))
    assert Filters.build(level="warning")(_view("notice-me"))  # a level it cannot rank is kept


def test_filters_never_hide_what_is_not_a_record_except_grep() -> None:
    f = Filters.build(level="critical", loggers=["x"], where=["a=1"])
    assert f(parse(b"plain text")) and f(parse(b'{"b":2}'))
    assert Filters.build(grep="plain")(parse(b"plain text"))
    assert not Filters.build(grep="other")(parse(b"plain text"))


def test_bad_filters_name_the_option() -> None:
    with pytest.raises(ConfigError, match="--grep: '\\(' is not a valid regular expression"):
        Filters.build(grep="(")
    with pytest.raises(ConfigError, match="--where: expected KEY=VALUE"):
        Filters.build(where=["user"])


def _msg(value: bytes | None, offset: int = 0, partition: int = 0) -> Message:
    return Message(partition, offset, _ms(NOW), None, value)


def test_pretty_line_and_terminal_safety() -> None:
    fmt = PrettyFormat(color=False)
    value = json.dumps({"type": "warning", "action": "pay", "time": "2026-12-02T15:00:00.123456+00:00",
                        "msg": "two\nlines \x1b[2J", "fields": {"user": "bob smith", "n": 3}, "logger": "a\x07b",
                        "exception": {"type": "E", "message": "m", "stack": "Traceback\n  x\nE: m\n"}}).encode()
    text = fmt.line(_msg(value), parse(value)).decode()
    assert text == ('2026-12-02 15:00:00.123 WARNING  a\\x07b: two\n    lines \\x1b[2J  action=pay user="bob smith" n=3'
                    "\n    Traceback\n      x\n    E: m\n")
    raw = fmt.line(_msg(b"\x1b]0;title\x07 x"), parse(b"\x1b]0;title\x07 x")).decode()
    assert raw == "2026-12-02 15:00:00.000 RAW      \\x1b]0;title\\x07 x\n"
    assert safe("a\tb\nc\x00\x9b") == "a\tb\nc\\x00\\x9b"


def test_pretty_colours_only_when_asked() -> None:
    line = PrettyFormat(color=True).line(_msg(b"-"), _view("error")).decode()
    assert "\x1b[31mERROR   \x1b[0m" in line and "\x1b[34mbilling.api\x1b[0m" in line
    assert "\x1b[" not in PrettyFormat(color=False).line(_msg(b"-"), _view("error")).decode()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color() -> None:
    assert use_color("auto", _Tty(), {}) is True
    assert use_color("auto", _Tty(), {"NO_COLOR": "1"}) is False
    assert use_color("auto", _Tty(), {"NO_COLOR": ""}) is True
    assert use_color("auto", io.StringIO(), {}) is False
    assert use_color("always", io.StringIO(), {"NO_COLOR": "1"}) is True
    assert use_color("never", _Tty(), {}) is False


def test_ndjson_keeps_stored_objects_and_wraps_the_rest() -> None:
    fmt = NdjsonFormat("t")
    stored = b'{"type":"info","action":"log","time":"x","msg":"m","fields":{}}'
    assert fmt.line(_msg(stored), parse(stored)) == stored + b"\n"
    spaced = b'{\n "a": 1\n}'
    assert fmt.line(_msg(spaced), parse(spaced)) == b'{"a":1}\n'
    wrapped = json.loads(fmt.line(_msg(b"caf\xc3\xa9\n\xff", offset=7), parse(b"caf\xc3\xa9\n\xff")))
    assert wrapped == {"raw": "café\n\\xff", "_kafka": {"topic": "t", "partition": 0, "offset": 7,
                                                        "timestamp": _ms(NOW), "key": None}}
    assert json.loads(fmt.line(_msg(None), parse(None)))["raw"] is None
    meta = json.loads(NdjsonFormat("t", meta=True).line(_msg(stored, offset=3), parse(stored)))
    assert meta["msg"] == "m" and meta["_kafka"]["offset"] == 3
    assert RawFormat().line(_msg(b"\xff as is"), None) == b"\xff as is\n"


class _ShortWrites(io.BytesIO):
    """A stream that takes at most 5 bytes per write, as a pipe does when a signal interrupts a write."""

    def write(self, data: Any) -> int:
        return super().write(bytes(data[:5]))


def test_write_all_writes_everything_despite_short_writes() -> None:
    out = _ShortWrites()
    write_all(out, b"0123456789abcdefghij\n")
    assert out.getvalue() == b"0123456789abcdefghij\n"


class FakeReader:
    """Partitions with fixed messages; each poll returns up to ``batch`` messages of one partition."""

    def __init__(self, messages: Mapping[int, Sequence[bytes]], *, batch: int = 2, extra: int = 0) -> None:
        self.messages = {p: list(values) for p, values in messages.items()}
        self.ends = {p: len(v) - extra for p, v in self.messages.items()}  # ``extra`` arrive after the start
        self.next = dict.fromkeys(self.messages, 0)
        self.batch = batch
        self.commits: list[dict[int, int]] = []
        self.closed = False

    def open(self) -> dict[int, int]:
        return dict(self.ends)

    def poll(self, timeout: float) -> Sequence[Message]:
        for p, values in self.messages.items():
            if self.next[p] < len(values):
                chunk = values[self.next[p]:self.next[p] + self.batch]
                out = [_msg(v, self.next[p] + i, p) for i, v in enumerate(chunk)]
                self.next[p] += len(chunk)
                return out
        return []

    def position(self, partition: int) -> int:
        return self.next[partition]

    def commit(self, offsets: Mapping[int, int]) -> None:
        self.commits.append(dict(offsets))

    def close(self) -> None:
        self.closed = True


def _options(**kw: Any) -> ConsumeOptions:
    return ConsumeOptions(bootstrap_servers="b:9", topic="t", output="raw", commit_interval=0, **kw)


def test_session_stops_at_the_ends_as_of_the_start() -> None:
    reader = FakeReader({0: [b"a", b"b", b"c", b"late"], 1: [], 2: [b"x"]}, extra=0)
    reader.ends[0] = 3  # "late" was written after the run started
    out = io.BytesIO()
    result = Session(_options(), out, reader).run()
    assert (result.reason, result.written, out.getvalue()) == ("end", 4, b"a\nb\nc\nx\n")
    assert reader.closed and reader.commits == []  # no group, no commits


def test_session_max_records_commits_just_what_was_written() -> None:
    reader = FakeReader({0: [b"a", b"b", b"c", b"d", b"e"]}, batch=5)
    out = io.BytesIO()
    result = Session(_options(group="g", max_records=2), out, reader).run()
    assert (result.reason, out.getvalue()) == ("max_records", b"a\nb\n")
    assert reader.commits[-1] == {0: 2}


class _ClosedAfter(io.BytesIO):
    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes = writes

    def write(self, data: Any) -> int:
        if self.writes == 0:
            raise BrokenPipeError
        self.writes -= 1
        return super().write(data)


def test_session_closed_pipe_commits_only_batches_written_before() -> None:
    reader = FakeReader({0: [b"a", b"b", b"c", b"d", b"e"]}, batch=2)
    result = Session(_options(group="g"), _ClosedAfter(1), reader).run()
    assert result.reason == "closed_pipe"
    assert reader.commits[-1] == {0: 2}


def test_session_filtered_records_count_as_handled() -> None:
    records = [json.dumps({"type": t, "action": "log", "time": "x", "msg": "m", "fields": {}}).encode()
               for t in ("debug", "debug", "error")]
    reader = FakeReader({0: records}, batch=3)
    out = io.BytesIO()
    Session(_options(group="g", filters=Filters.build(level="error")), out, reader).run()
    assert out.getvalue() == records[2] + b"\n" and reader.commits[-1] == {0: 3}


def test_options_check_and_hide_secrets() -> None:
    with pytest.raises(ConfigError, match="--output: 'xml' is not one of"):
        ConsumeOptions("b:9", "t", output="xml")
    with pytest.raises(ConfigError, match="--max-records"):
        ConsumeOptions("b:9", "t", max_records=0)
    options = ConsumeOptions("b:9", "t", client_config={"sasl_plain_password": "hunter2", "ssl_password": "pw2"})
    assert "hunter2" not in repr(options) and "pw2" not in repr(options)
    assert set(options.secrets) == {"hunter2", "pw2"}
    settings = repr(options.reader_settings())  # what each reader holds: its repr hides them too
    assert "hunter2" not in settings and "pw2" not in settings and "sasl_plain_password': '***'" in settings


def test_security_flags_in_each_clients_names_and_passwords_from_the_environment(tmp_path: Any) -> None:
    from kafkalog.cli import build_parser
    from kafkalog.cli.consume import client_config

    (tmp_path / "c.json").write_text('{"ssl_check_hostname": false}')
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    argv = ["consume", "-b", "b:9", "-t", "t", "--security-protocol", "SASL_SSL", "--sasl-mechanism", "PLAIN",
            "--sasl-username", "u", "--ssl-cafile", str(ca), "--consumer-config", str(tmp_path / "c.json"),
            "-X", "fetch_max_wait_ms=50"]
    env = {"KAFKALOG_SASL_PASSWORD": "pw"}
    assert client_config(build_parser().parse_args(argv), env) == {
        "ssl_check_hostname": False, "fetch_max_wait_ms": 50, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN", "sasl_plain_username": "u", "sasl_plain_password": "pw", "ssl_cafile": str(ca)}
    # --client is the old spelling of --transport, --ssl-cafile of --ssl-ca-file
    for transport in ("--client", "--transport"):
        confluent = client_config(build_parser().parse_args([*argv[:-4], transport, "confluent"]), env)
        assert confluent == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "u",
                             "sasl.password": "pw", "ssl.ca.location": str(ca)}
    with pytest.raises(ConfigError, match="-X: expected KEY=VALUE") as info:
        client_config(build_parser().parse_args([*argv[:5], "-X", "=hunter2"]), {})
    assert "hunter2" not in str(info.value)


class _Stuck(FakeReader):
    def poll(self, timeout: float) -> Sequence[Message]:
        return []  # a broker that stopped answering


def test_session_without_follow_gives_up_when_nothing_comes_before_the_end() -> None:
    from kafkalog.consume import ConsumeError

    reader = _Stuck({0: [b"a"]})
    with pytest.raises(ConsumeError, match=r"nothing read for 0.5 s before the end of the topic \(partitions \[0\]\)"):
        Session(ConsumeOptions("b:9", "t", timeout=0.5), io.BytesIO(), reader).run()
    assert reader.closed


def test_auto_client_is_confluent_when_installed_and_kafka_python_with_options(monkeypatch: Any) -> None:
    from kafkalog.consume.clients import resolve_client

    assert resolve_client("kafka-python", client_options=False) == "kafka-python"
    assert resolve_client("confluent", client_options=True) == "confluent"
    assert resolve_client("auto", client_options=False) == "confluent"  # installed with the dev extra
    assert resolve_client("auto", client_options=True) == "kafka-python"  # -X names are kafka-python's
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails: as if not installed
    assert resolve_client("auto", client_options=False) == "kafka-python"


def test_ndjson_and_raw_batches_are_the_lines_of_each_message() -> None:
    values = [b'{"type":"info","msg":"m","time":"x"}', b"not json", None, b"", b"[1]", b'{\n"a": 1}',
              b"{broken", b'{"a":"caf\xc3\xa9"}', b"\xff\xfe"]
    messages = [_msg(v, offset=i) for i, v in enumerate(values)]
    for fmt in (NdjsonFormat("t"), NdjsonFormat("t", meta=True), RawFormat()):
        assert fmt.lines(messages) == b"".join(fmt.line(m, None) for m in messages)
        assert fmt.lines([]) == b""
    assert PrettyFormat(color=False).lines(messages) == b"".join(
        PrettyFormat(color=False).line(m, parse(m.value)) for m in messages)


def test_filters_on_kafkalog_json_judge_as_on_the_view() -> None:
    records = [{"type": t, "time": "x", "msg": "m", **({} if logger is False else {"logger": logger})}
               for t in ("debug", "WARNING", "level 35", "level 5", "custom", "", None, 30, "30")
               for logger in ("billing", "billing.api", "billingx", None, 7, False)]
    filters = [Filters.build(level="warning"), Filters.build(loggers=["billing"]),
               Filters.build(level="info", loggers=["billing.api", "bill*"]), Filters.build(loggers=["7"])]
    for f in filters:
        assert f.on_records
        for record in records:
            assert f.keep_record(record) is f(parse(json.dumps(record).encode())), (f, record)
    assert not Filters.build(grep="x").on_records and not Filters.build(where=["a=1"]).on_records


def test_session_ndjson_filtered_on_json_writes_what_the_views_would() -> None:
    values = [json.dumps({"type": t, "action": "log", "time": "x", "msg": "m", "logger": lg}).encode()
              for t in ("info", "error") for lg in ("a", "b")]
    values += [b"not json", b'{"type":"info"}', b'{"type":"error","time":"x","msg":"two\\nlines","logger":"a"}',
               json.dumps({"type": "error", "time": "x", "msg": "m\nx"}, indent=1).encode()]
    for filters in (Filters.build(level="error"), Filters.build(loggers=["a"]), Filters.build(grep="m")):
        for meta in (False, True):
            out = io.BytesIO()
            options = ConsumeOptions("b:9", "t", output="ndjson", meta=meta, filters=filters)
            Session(options, out, FakeReader({0: values}, batch=3)).run()
            fmt = NdjsonFormat("t", meta=meta)
            expected = [fmt.line(_msg(v, i, 0), parse(v)) for i, v in enumerate(values) if filters(parse(v))]
            assert out.getvalue() == b"".join(expected)


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_consumer_config_may_not_set_what_the_reader_owns(client: str) -> None:
    """group and commit settings belong to the reader (``--group`` commits only what was written): refused, named."""
    from kafkalog.consume.reader import ConsumeError, ReaderSettings

    if client == "kafka-python":
        from kafkalog.consume._kafka_python import OWNED
        from kafkalog.consume._kafka_python import KafkaPythonReader as reader
        config: dict[str, Any] = {"enable_auto_commit": True}
    else:
        pytest.importorskip("confluent_kafka")
        from kafkalog.consume._confluent import OWNED
        from kafkalog.consume._confluent import ConfluentReader as reader
        config = {"enable.auto.commit": True}
    assert set(config) <= set(OWNED)
    settings = ReaderSettings(bootstrap_servers="127.0.0.1:1", topic="t", start=parse_start("beginning"),
                              client_config=config)
    with pytest.raises(ConsumeError, match=next(iter(config))):
        reader(settings)
