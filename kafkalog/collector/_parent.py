"""Pre-fork parent mode (``prefork_collector=True``): the process that creates the handler listens on a private
socket, and the processes it forks hand their records to it instead of each starting a producer.

The parent's own worker is the pipeline: children's batches go into its queue (acknowledged once there, refused
as busy when it is full) and out through its one producer. In a forked child, the worker (fresh after the fork)
is switched to the hand-over transport pointed at the parent's socket. Spawned children (uvicorn ``--workers``,
``multiprocessing`` with ``spawn``) do not inherit this: they run the handler's setup again, as a parent of their
own; ``kafkalog collect`` covers them.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile
import weakref
from typing import Any

from .._client_options import OPTION_NAMES as CLIENT_OPTION_NAMES
from .._worker import Worker
from ..config import KafkaLogConfig
from ..errors import Reason
from ._pipeline import Pipeline
from ._server import Collector, ListenSettings

_parents: weakref.WeakKeyDictionary[Worker, tuple[int, str]] = weakref.WeakKeyDictionary()
"""worker -> (pid of the process that listens for its children, socket path)."""


def start_parent_collector(worker: Worker) -> Collector | None:
    """Listen for the records of the processes this one forks; None (reported) if the socket cannot be made."""
    directory = tempfile.mkdtemp(prefix="kafkalog-")  # 0700: only this user can reach the socket
    path = os.path.join(directory, "collector.sock")
    collector = Collector(worker.config, ListenSettings(path), pipeline=Pipeline(worker.config, worker=worker))
    try:
        collector.start()
    except Exception as exc:
        shutil.rmtree(directory, ignore_errors=True)
        worker.report(Reason.WORKER, f"prefork_collector: cannot listen for forked children, they will ship "
                                f"themselves: {exc}")
        return None
    pid = os.getpid()
    _parents[worker] = (pid, path)
    atexit.register(_remove, directory, pid)
    return collector


def _remove(directory: str, pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(directory, ignore_errors=True)


def child_config(config: KafkaLogConfig, path: str) -> KafkaLogConfig:
    """The parent's options for a child that hands over to ``path``: no broker, client or spool options."""
    cleared: dict[str, Any] = dict.fromkeys(CLIENT_OPTION_NAMES)
    return dataclasses.replace(config, collector=path, bootstrap_servers=None, transport="kafka-python",
                               producer_config={}, prefork_collector=False, **cleared)


def _after_fork_in_child() -> None:
    """Switch the fresh workers of a forked child to the hand-over transport (after the lifecycle's reset)."""
    for worker, (pid, path) in list(_parents.items()):
        if pid == os.getpid():
            continue
        config = child_config(worker.config, path)
        worker.config = config
        worker._sender.config = config  # the sender the reset made opens its transport from it, on first use
        del _parents[worker]


os.register_at_fork(after_in_child=_after_fork_in_child)
