"""Topic and key routing: fixed names, templates, callables and key paths (kafkalog._route)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kafkalog import ConfigError, KafkaHandler
from kafkalog._route import compile_key, compile_topic
from kafkalog.transports import MemoryTransport

EVENT: dict[str, Any] = {"type": "info", "logger": "app.db", "host": "h1",
                         "fields": {"tenant": "acme", "user_id": 42, "nested": {"a": "b"}, "empty": ""}}


def topic_of(topic: Any, event: dict[str, Any] | None = None) -> str:
    _, chooser = compile_topic(topic)
    return chooser(EVENT if event is None else event)


class TestCompileTopic:
    def test_fixed_name_returned_as_is(self) -> None:
        """A plain name is returned as the fixed topic."""
        assert compile_topic("app-logs")[0] == "app-logs"

    def test_fixed_chooser_ignores_event(self) -> None:
        """A plain name routes every record to that name."""
        assert topic_of("app-logs", {}) == "app-logs"

    def test_template_top_level_key(self) -> None:
        """'logs-{type}' renders the record's type."""
        assert topic_of("logs-{type}") == "logs-info"

    def test_template_field_path(self) -> None:
        """'x-{fields.tenant}' renders fields.tenant."""
        assert topic_of("x-{fields.tenant}") == "x-acme"

    def test_template_several_placeholders(self) -> None:
        """Several placeholders render in order; non-str values are stringified."""
        assert topic_of("{type}.{fields.tenant}.{fields.user_id}") == "info.acme.42"

    def test_template_missing_value_is_unknown(self) -> None:
        """A missing fields value renders as 'unknown'."""
        assert topic_of("x-{fields.tenant}", {"fields": {}}) == "x-unknown"

    def test_template_missing_fields_is_unknown(self) -> None:
        """A record without fields renders the placeholder as 'unknown'."""
        assert topic_of("x-{fields.tenant}", {"type": "info"}) == "x-unknown"

    def test_template_empty_value_is_unknown(self) -> None:
        """An empty string value renders as 'unknown'."""
        assert topic_of("x-{fields.empty}") == "x-unknown"

    def test_template_none_value_is_unknown(self) -> None:
        """A None value renders as 'unknown'."""
        assert topic_of("x-{fields.tenant}", {"fields": {"tenant": None}}) == "x-unknown"

    def test_template_path_through_non_dict_is_unknown(self) -> None:
        """A path through a non-dict value renders as 'unknown'."""
        assert topic_of("x-{fields.tenant.id}") == "x-unknown"

    def test_template_invalid_chars_replaced(self) -> None:
        """Characters Kafka does not allow in topic names become '_'."""
        assert topic_of("x-{fields.tenant}", {"fields": {"tenant": "a b/c:d\u00e9"}}) == "x-a_b_c_d_"

    def test_template_dot_dot_value_kept_inside_name(self) -> None:
        """Dots are legal topic characters and are kept."""
        assert topic_of("x-{fields.tenant}", {"fields": {"tenant": "a..b"}}) == "x-a..b"

    def test_template_result_capped_at_249(self) -> None:
        """A rendered name longer than 249 characters is cut to 249."""
        assert len(topic_of("x-{fields.tenant}", {"fields": {"tenant": "y" * 400}})) == 249

    def test_template_whole_dot_result_is_unknown(self) -> None:
        """A template rendering to '.' or '..' (invalid topics) becomes 'unknown'."""
        assert topic_of("{fields.tenant}", {"fields": {"tenant": ".."}}) == "unknown"

    def test_template_has_no_fixed_topic(self) -> None:
        """A template has no fixed topic."""
        assert compile_topic("logs-{type}")[0] is None

    def test_callable_result_used(self) -> None:
        """A callable's result is the topic."""
        assert topic_of(lambda e: f"t-{e['fields']['tenant']}") == "t-acme"

    def test_callable_result_cleaned(self) -> None:
        """A callable's result has invalid characters replaced by '_'."""
        assert topic_of(lambda e: "bad name!") == "bad_name_"

    def test_callable_empty_result_is_unknown(self) -> None:
        """A callable returning '' routes to 'unknown'."""
        assert topic_of(lambda e: "") == "unknown"

    def test_callable_has_no_fixed_topic(self) -> None:
        """A callable topic has no fixed name."""
        assert compile_topic(lambda e: "x")[0] is None


class TestCompileKey:
    def test_none_means_no_key(self) -> None:
        """key=None compiles to no key function."""
        assert compile_key(None) is None

    def test_top_level_path(self) -> None:
        """A top-level key path gives that value as UTF-8 bytes."""
        key = compile_key("host")
        assert key is not None
        assert key(EVENT) == b"h1"

    def test_fields_path_int_stringified(self) -> None:
        """A fields path to an int gives its decimal text."""
        key = compile_key("fields.user_id")
        assert key is not None
        assert key(EVENT) == b"42"

    def test_missing_path_is_no_key(self) -> None:
        """A missing value gives no key (None)."""
        key = compile_key("fields.missing")
        assert key is not None
        assert key(EVENT) is None

    def test_callable_str_encoded(self) -> None:
        """A callable returning str gives UTF-8 bytes."""
        key = compile_key(lambda e: "\u00e9")
        assert key is not None
        assert key(EVENT) == "\u00e9".encode()

    def test_callable_bytes_passed_through(self) -> None:
        """A callable returning bytes gives those bytes unchanged."""
        key = compile_key(lambda e: b"\xff\x00")
        assert key is not None
        assert key(EVENT) == b"\xff\x00"

    def test_callable_none_is_no_key(self) -> None:
        """A callable returning None gives no key."""
        key = compile_key(lambda e: None)
        assert key is not None
        assert key(EVENT) is None

    def test_callable_surrogate_escaped(self) -> None:
        """A lone surrogate in a key is escaped, not an encoding error."""
        key = compile_key(lambda e: "a\udcff")
        assert key is not None
        assert key(EVENT) == b"a\\udcff"


class TestRoutingThroughHandler:
    @pytest.fixture
    def ship(self, make_handler: Callable[..., KafkaHandler],
             make_logger: Callable[..., Any]) -> Callable[..., MemoryTransport]:
        def run(extra: dict[str, Any] | None = None, level: int = 20, **options: Any) -> MemoryTransport:
            transport = MemoryTransport()
            handler = make_handler(transport=transport, **options)
            make_logger(handler).log(level, "m", extra=extra)
            assert handler.flush(5)
            return transport

        return run

    def test_template_topic_per_level(self, ship: Callable[..., MemoryTransport]) -> None:
        """topic='logs-{type}' sends a warning to logs-warning."""
        assert ship(level=30, topic="logs-{type}").messages[0].topic == "logs-warning"

    def test_template_field_missing_goes_to_unknown(self, ship: Callable[..., MemoryTransport]) -> None:
        """topic='x-{fields.tenant}' without a tenant extra sends to x-unknown."""
        assert ship(topic="x-{fields.tenant}").messages[0].topic == "x-unknown"

    def test_template_field_from_extra(self, ship: Callable[..., MemoryTransport]) -> None:
        """topic='x-{fields.tenant}' uses the tenant given in extra=."""
        assert ship({"tenant": "acme corp"}, topic="x-{fields.tenant}").messages[0].topic == "x-acme_corp"

    def test_callable_topic(self, ship: Callable[..., MemoryTransport]) -> None:
        """A callable topic receives the record dict and decides the topic."""
        assert ship(topic=lambda e: f"by-{e['logger'].split('.')[0]}").messages[0].topic == "by-kafkalog_unit"

    def test_key_by_path(self, ship: Callable[..., MemoryTransport]) -> None:
        """key='fields.user_id' sets the message key from the extra."""
        assert ship({"user_id": 7}, key="fields.user_id").messages[0].key == b"7"

    def test_key_by_callable(self, ship: Callable[..., MemoryTransport]) -> None:
        """A callable key gets the record dict; its str result becomes the key."""
        assert ship(key=lambda e: e["type"].upper()).messages[0].key == b"INFO"

    def test_no_key_by_default(self, ship: Callable[..., MemoryTransport]) -> None:
        """Without key=, messages have no key."""
        assert ship().messages[0].key is None

    def test_raising_topic_callable_counts_drop(self, make_handler: Callable[..., KafkaHandler],
                                                make_logger: Callable[..., Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """A topic callable that raises drops the record as internal_error; logging does not raise."""
        monkeypatch.setattr("logging.raiseExceptions", False)
        handler = make_handler(topic=lambda e: 1 / 0)
        make_logger(handler).info("m")
        assert handler.flush(5)
        assert handler.stats().dropped == {"internal_error": 1}


class TestKeyTemplate:
    def test_placeholder_gives_the_value(self) -> None:
        """key="{trace_id}" is the record's trace_id; a missing one gives no key."""
        key = compile_key("{trace_id}")
        assert key is not None
        assert key({"trace_id": "ab" * 16}) == b"ab" * 16
        assert key({"type": "info"}) is None

    def test_template_joins_values_and_needs_all_of_them(self) -> None:
        """A template with text and several placeholders renders them; any missing value gives no key."""
        key = compile_key("{host}/{fields.user_id}")
        assert key is not None
        assert key(EVENT) == b"h1/42"
        assert key({"host": "h1", "fields": {}}) is None

    @pytest.mark.parametrize("bad", ["{trace_id", "{a b}", "{}"])
    def test_bad_template_raises_naming_key(self, bad: str) -> None:
        """Unbalanced braces or a placeholder that is no record key raise ConfigError naming key."""
        with pytest.raises(ConfigError, match=r"^key: "):
            compile_key(bad)
