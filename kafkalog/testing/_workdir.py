"""What a local broker and a local cluster share: a work directory, either given (kept, reused next time) or a
temporary one they own and delete at :meth:`stop`; and their use as a context manager."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from ._errors import KafkaBrokerError

S = TypeVar("S", bound="LocalServers")


class LocalServers:
    """Base of :class:`~kafkalog.testing.LocalKafka` and :class:`~kafkalog.testing.LocalKafkaCluster`."""

    def __init__(self, workdir: Path | None) -> None:
        self._owns_workdir = workdir is None
        self._workdir: Path | None = Path(workdir) if workdir is not None else None
        self._cluster_id: str | None = None

    @property
    def workdir(self) -> Path:
        """Directory holding the config, the logs (``broker.log``, ``process.log``) and the data."""
        if self._workdir is None:
            raise KafkaBrokerError(f"{type(self).__name__} has not been started: no workdir yet")
        return self._workdir

    def _make_workdir(self, prefix: str) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=prefix))
        return self._workdir

    def _remove_own_workdir(self) -> bool:
        """Delete a temporary workdir and forget the cluster id formatted in it; True if there was one."""
        if not self._owns_workdir or self._workdir is None:
            return False
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
        self._cluster_id = None
        return True

    def start(self: S) -> S:
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def __enter__(self: S) -> S:
        try:
            return self.start()
        except BaseException:
            self.stop(timeout=5.0)  # __exit__ will not run: clean up here
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
