"""``kafkalog tail`` and a disk error in its spool (ENOSPC): the offset never moves past a line not on disk, and
the lines are read again once the disk takes writes (no broker: the memory transport)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from kafkalog.spool._disk import DiskSpool
from kafkalog.tail._agent import TailAgent
from kafkalog.tail._config import TailInput, TailSettings
from kafkalog.tail._run import shipper_config

from .conftest import BOOTSTRAP, wait_until


def test_disk_error_keeps_the_offset_and_lines_are_read_again(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {n}\n" for n in range(5)))
    state = tmp_path / "state"
    config = shipper_config(bootstrap_servers=BOOTSTRAP, topic="logs", state_dir=str(state), spool=True,
                            options={"transport": "memory", "linger": 0, "on_error": lambda text: None,
                                     "spool_max_bytes": 4 * 1024 * 1024, "spool_segment_bytes": 1024 * 1024})
    agent = TailAgent(TailSettings(inputs=(TailInput(paths=(str(log),)),)), config, str(state))
    real_write = DiskSpool._write

    def no_space(self: DiskSpool, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    try:
        monkeypatch.setattr(DiskSpool, "_write", no_space)
        agent._scan()
        agent._read_round()
        (follower,) = agent.followers.values()
        assert follower.offset == 0  # nothing is on disk: the offset stays before every line
        assert agent.intake.stats().dropped.get("spool_error", 0) >= 5
        monkeypatch.setattr(DiskSpool, "_write", real_write)
        assert wait_until(lambda: agent._read_round() or follower.offset == log.stat().st_size, timeout=10)
        assert follower.offset == log.stat().st_size
        assert agent.intake.flush(10)
        assert agent.intake.stats().delivered == 5
    finally:
        agent.close(1.0)
