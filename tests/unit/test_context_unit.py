"""kafkalog.bind / unbind / bound / clear_context: what each does to the current context, and what records get."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections.abc import Callable, Iterator

import pytest

import kafkalog
from kafkalog import KafkaHandler
from kafkalog.transports import MemoryTransport


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    kafkalog.clear_context()
    yield
    kafkalog.clear_context()


def _fields(handler: KafkaHandler, memory: MemoryTransport) -> list[dict]:
    assert handler.flush(5)
    return [json.loads(value)["fields"] for value in memory.values()]


class TestContextApi:
    def test_bind_adds_and_replaces(self) -> None:
        """bind() adds names and replaces values of names already bound."""
        kafkalog.bind(a=1, b=2)
        kafkalog.bind(b=3, c=4)
        assert kafkalog.get_context() == {"a": 1, "b": 3, "c": 4}

    def test_unbind_removes_only_the_named_keys(self) -> None:
        """unbind() removes the given names and ignores names that are not bound."""
        kafkalog.bind(a=1, b=2)
        kafkalog.unbind("a", "missing")
        assert kafkalog.get_context() == {"b": 2}

    def test_bound_restores_what_was_there(self) -> None:
        """bound() binds for the block only; the values before it come back, also after an exception."""
        kafkalog.bind(a=1)
        with pytest.raises(RuntimeError), kafkalog.bound(a=2, b=3):
            assert kafkalog.get_context() == {"a": 2, "b": 3}
            raise RuntimeError
        assert kafkalog.get_context() == {"a": 1}

    def test_clear_context_empties_it(self) -> None:
        """clear_context() leaves nothing bound."""
        kafkalog.bind(a=1)
        kafkalog.clear_context()
        assert kafkalog.get_context() == {}

    def test_get_context_is_a_copy(self) -> None:
        """Changing what get_context() returned does not change the context."""
        kafkalog.bind(a=1)
        kafkalog.get_context()["a"] = 2
        assert kafkalog.get_context() == {"a": 1}

    def test_a_copied_context_keeps_its_values(self) -> None:
        """A context copied before a later bind() (what a new task gets) still sees the old values."""
        kafkalog.bind(a=1)
        copied = contextvars.copy_context()
        kafkalog.bind(a=2)
        assert copied.run(kafkalog.get_context) == {"a": 1}

    def test_threads_start_empty_and_do_not_leak(self) -> None:
        """A new thread sees nothing bound; what it binds stays in it."""
        kafkalog.bind(a=1)
        seen: list[dict] = []

        def run() -> None:
            seen.append(kafkalog.get_context())
            kafkalog.bind(b=2)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        assert seen == [{}]
        assert kafkalog.get_context() == {"a": 1}

    def test_tasks_inherit_and_do_not_leak(self) -> None:
        """An asyncio task starts with what was bound when it was created; its own binds stay in it."""

        async def child() -> dict:
            kafkalog.bind(b=2)
            return kafkalog.get_context()

        async def main() -> tuple[dict, dict]:
            kafkalog.bind(a=1)
            inner = await asyncio.create_task(child())
            return inner, kafkalog.get_context()

        assert asyncio.run(main()) == ({"a": 1, "b": 2}, {"a": 1})


class TestRecordsGetContext:
    def test_handler_fields_have_bound_values_under_extras(self,
                                                           make_handler: Callable[..., KafkaHandler]) -> None:
        """KafkaHandler: bound values in fields, the call's extra= wins on a clash, a bound action is lifted."""
        memory = MemoryTransport()
        handler = make_handler(transport=memory)
        log = logging.Logger("ctx")
        log.addHandler(handler)
        with kafkalog.bound(user="bound", tenant="acme", action="pay"):
            log.info("x", extra={"user": "call"})
        log.info("y")
        assert handler.flush(5)
        first, second = (json.loads(v) for v in memory.values())
        assert first["fields"] == {"tenant": "acme", "user": "call"} and first["action"] == "pay"
        assert second["fields"] == {} and second["action"] == "log"

    def test_sink_fields_have_bound_values_under_loguru_extras(self, make_sink: Callable[..., kafkalog.KafkaSink]
                                                               ) -> None:
        """KafkaSink: bound values in fields; loguru's bind() and call kwargs win on a clash."""
        loguru = pytest.importorskip("loguru")
        memory = MemoryTransport()
        sink = make_sink(transport=memory)
        sink_id = loguru.logger.add(sink, format="{message}")
        try:
            with kafkalog.bound(user="bound", tenant="acme"):
                loguru.logger.bind(user="loguru").info("x", extra_kw=1)
        finally:
            loguru.logger.remove(sink_id)
        assert json.loads(memory.values()[0])["fields"] == {"tenant": "acme", "user": "loguru", "extra_kw": 1}
