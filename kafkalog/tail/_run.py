"""The shipper's options for the agent, and running the agent until a stop is asked (the CLI's frame)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from ..config import KafkaLogConfig
from ._agent import TailAgent

SPOOL_SUBDIR = "spool"
TAIL_BATCH_RECORDS = 10_000


def shipper_config(*, bootstrap_servers: str, topic: str, state_dir: str,
                   options: Mapping[str, Any] | None = None, spool: bool = False) -> KafkaLogConfig:
    """The shipper's options for the agent. By default the files are the buffer: records wait in memory and
    offsets move once the broker acknowledged them. ``spool``: a disk spool under the state directory that waits
    when full, and offsets move once records are on disk."""
    opts = dict(options or {})
    # a backlog goes in big batches: the sender waits for each batch's acknowledgements before the next
    opts.setdefault("batch_max_records", TAIL_BATCH_RECORDS)
    if not spool:
        return KafkaLogConfig(bootstrap_servers=bootstrap_servers, topic=topic, handle_sigterm=False, **opts)
    opts.setdefault("spool_max_bytes", 1024 * 1024 * 1024)
    return KafkaLogConfig(bootstrap_servers=bootstrap_servers, topic=topic,
                          spool_dir=os.path.join(state_dir, SPOOL_SUBDIR), spool_full_policy="block",
                          handle_sigterm=False, **opts)


def run_until_stopped(agent: TailAgent, stop: threading.Event, close_timeout: float) -> Any:
    """Run ``agent`` on a thread until ``stop`` is set; then deliver within ``close_timeout`` and save offsets."""
    thread = threading.Thread(target=agent.run, name="kafkalog-tail", daemon=True)
    thread.start()
    while not stop.wait(0.2) and thread.is_alive():
        pass
    agent.stop()
    thread.join(1.0)
    if thread.is_alive():  # waiting for room in a full spool: end the wait, the entry is read again next start
        agent.abort_waits(close_timeout)
        thread.join()
    return agent.close(close_timeout)

