"""Where reading starts (``--from``): parsed once here, resolved per partition by the reader."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from ..errors import ConfigError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ALLOWED = "beginning, end, an offset N, -N (N before the end), an ISO time, or a duration ago such as 10m, 2h, 1d"


@dataclass(frozen=True)
class Start:
    """``kind`` is ``beginning``, ``end``, ``offset`` (``value`` in every partition), ``tail`` (``value`` records
    before each partition's end) or ``time`` (``value`` in ms since the epoch: the first record at or after it)."""

    kind: str
    value: int = 0

    def resolve(self, begin: int, end: int, at_time: int | None) -> int:
        """The offset to seek to in a partition whose offsets run from ``begin`` to ``end`` (exclusive).

        ``at_time`` is the broker's answer for ``time`` starts: the first offset at or after that time, or None
        when the partition has nothing that recent (then reading starts at its end).
        """
        if self.kind == "beginning":
            return begin
        if self.kind == "end":
            return end
        if self.kind == "offset":
            return min(max(self.value, begin), end)
        if self.kind == "tail":
            return max(end - self.value, begin)
        return end if at_time is None else min(max(at_time, begin), end)


def _parse_time(text: str) -> _dt.datetime | None:
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = _dt.datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = _dt.datetime.combine(_dt.date.fromisoformat(candidate), _dt.time())
        except ValueError:
            return None
    # a time without an offset is UTC, as the records' own "time" is
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.timezone.utc)


def parse_start(text: str, *, now: _dt.datetime | None = None) -> Start:
    """Parse a ``--from`` value; raises :class:`ConfigError` naming what is allowed."""
    value = text.strip().lower()
    if value in ("beginning", "earliest", "start"):
        return Start("beginning")
    if value in ("end", "latest"):
        return Start("end")
    if re.fullmatch(r"\d+", value):
        return Start("offset", int(value))
    if re.fullmatch(r"-\d+", value):
        return Start("tail", -int(value))
    duration = _DURATION.fullmatch(value)
    if duration:
        seconds = float(duration.group(1)) * _SECONDS[duration.group(2)]
        moment = (now or _dt.datetime.now(_dt.timezone.utc)) - _dt.timedelta(seconds=seconds)
        return Start("time", int(moment.timestamp() * 1000))
    parsed = _parse_time(text)
    if parsed is not None:
        return Start("time", int(parsed.timestamp() * 1000))
    raise ConfigError(f"--from: {text!r} is not one of: {ALLOWED}")
