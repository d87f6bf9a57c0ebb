"""Whether a collector ships, read from its stats: one rule for ``kafkalog collect --health`` and
``kafkalog check``. Imports nothing heavy (a process that only asks does not load the server)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def health(stats: Mapping[str, Any]) -> tuple[bool, str]:
    """(healthy, in words): healthy when its pipeline is (no drop and a delivery within the last 10 s whenever
    records wait)."""
    pipeline = stats.get("pipeline") or {}
    if pipeline.get("healthy"):
        return True, (f"ships: {pipeline.get('delivered', 0)} delivered, {pipeline.get('pending', 0)} pending, "
                      f"{stats.get('clients_connected', 0)} client(s) connected")
    why = pipeline.get("last_error") or "records wait with no delivery for 10 s"
    dropped = pipeline.get("dropped") or {}
    lost = f"; dropped {dropped}" if dropped else ""
    return False, f"not shipping: {why}{lost}"
