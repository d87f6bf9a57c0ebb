"""Flood control's bookkeeping with a driven clock, and the levels value and command-line parsing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kafkalog import ConfigError, ConfigTypeError, KafkaLogConfig, RateLimit
from kafkalog._levels import LevelFollower, parse_levels, parse_source
from kafkalog._levels_topic import parse_assignments, parse_duration, set_value
from kafkalog.flood import Flood


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _flood(**options: Any) -> tuple[Flood, list[tuple[dict[str, Any], int]], Clock]:
    clock = Clock()
    shipped: list[tuple[dict[str, Any], int]] = []
    flood = Flood(RateLimit(clock=clock, **options), lambda event, created, level: shipped.append((event, level)))
    flood.build = lambda item: {"msg": item, "fields": {}, "action": "log"}
    return flood, shipped, clock


def test_window_summary_and_errors_never_held() -> None:
    flood, shipped, clock = _flood(records=2, interval=10)
    allowed = [flood.allow("app", logging.WARNING, ("f.py", 1), f"m{i}", float(i)) for i in range(5)]
    assert allowed == [True, True, False, False, False]
    assert flood.allow("app", logging.ERROR, ("f.py", 1), "e", 0.0)
    clock.now = 10
    assert flood.allow("app", logging.WARNING, ("f.py", 1), "m5", 5.0)
    (summary, level), = shipped
    assert level == logging.WARNING and summary["action"] == "suppressed"
    assert summary["msg"] == "suppressed 3 records like this in the last 10 s"
    assert summary["fields"]["suppressed"]["first"] == {"time": 2.0, "msg": "m2"}
    assert summary["fields"]["suppressed"]["last"] == {"time": 4.0, "msg": "m4"}
    assert flood.suppressed == 3


def test_keys_are_bounded_and_the_overflow_is_counted() -> None:
    flood, shipped, clock = _flood(records=1, interval=10, max_keys=3)
    for line in range(10):  # 10 call sites: 3 tracked, the other 7 share the overflow key
        flood.allow("app", logging.INFO, ("f.py", line), "m", 0.0)
    assert flood.overflow == 7 and len(flood._windows) == 4
    assert flood.suppressed == 6  # the overflow key shipped its first record only
    clock.now = 10
    flood.sweep()
    assert flood._windows == {}
    assert sum(e["fields"]["suppressed"]["count"] for e, _ in shipped) == 6


def test_per_logger_limit_closest_ancestor() -> None:
    flood, _, _ = _flood(records=100, interval=10, loggers={"noisy": (0, 10)})
    assert not flood.allow("noisy.lib.x", logging.INFO, 1, "m", 0.0)
    assert flood.allow("quiet", logging.INFO, 1, "m", 0.0)


@pytest.mark.parametrize(("value", "error"), [
    ({"records": -1}, ConfigError), ({"interval": 0}, ConfigError), ({"loggers": {"a": 5}}, ConfigTypeError),
    ({"max_keys": 0}, ConfigError), ({"bogus": 1}, ConfigTypeError), (5, ConfigTypeError),
])
def test_rate_limit_refused(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="rate_limit"):
        KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", rate_limit=value)


def test_levels_value_and_cli_parsing() -> None:
    assert parse_source("kafka://levels/billing%2Fapi") == ("levels", "billing/api")
    with pytest.raises(ConfigError, match="levels_from"):
        KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", levels_from="http://x/y")
    assert parse_duration("15m") == 900 and parse_duration("2h") == 7200 and parse_duration("30") == 30
    with pytest.raises(ValueError, match="duration"):
        parse_duration("soon")
    assert parse_assignments(["billing.api=debug"]) == {"billing.api": "DEBUG"}
    with pytest.raises(ValueError, match="LOGGER=LEVEL"):
        parse_assignments(["billing.api=LOUD"])
    levels = parse_levels(set_value({"a.b": "DEBUG"}, 60))
    assert levels["a.b"][0] == logging.DEBUG and levels["a.b"][1] is not None
    for garbage in (b"x", b"[]", b'{"levels": {"a": {"level": "LOUD"}}}', b'{"levels": {"a": {"level": "INFO", '
                                                                            b'"until": "never"}}}'):
        with pytest.raises(ValueError):
            parse_levels(garbage)
    assert parse_levels(None) == {}


def test_follower_restores_levels_and_expires() -> None:
    """apply/expire without a broker (the thread finds nothing at an unused address and changes nothing)."""
    reports: list[str] = []
    follower = LevelFollower("kafka://t/k", ["127.0.0.1:9"], {}, lambda kind, text: reports.append(text))
    follower.stop()
    log = logging.getLogger("kafkalog.test.levels")
    log.setLevel(logging.WARNING)
    follower.apply({"kafkalog.test.levels": (logging.DEBUG, None)})
    assert log.level == logging.DEBUG
    follower.apply({"kafkalog.test.levels": (logging.DEBUG, 1.0)})  # ended long ago
    follower._expire()
    assert log.level == logging.WARNING
