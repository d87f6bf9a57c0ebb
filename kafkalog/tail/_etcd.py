"""Inputs from an etcd key (``--config-source etcd://HOST:PORT/KEY``): the key holds the config file's TOML text.

The key is watched: each change reloads the inputs as an edit of the config file would. Talks to etcd's v3
HTTP gateway through ``etcd3gw`` (``pip install 'kafkalog[etcd]'``), imported only here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ._config import TailConfigError, TailSettings, parse_settings

_RETRY = 1.0  # seconds between attempts to watch again after the connection to etcd broke


class EtcdSource:
    """One etcd key: :meth:`load` reads and checks it, :meth:`watch` calls back on each change."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        key = parts.path.lstrip("/")
        if parts.scheme != "etcd" or not parts.hostname or not key:
            raise TailConfigError(f"--config-source: expected etcd://HOST:PORT/KEY, got {url!r}")
        try:
            from etcd3gw.client import Etcd3Client
        except ImportError:
            raise TailConfigError("--config-source etcd://...: needs the 'etcd3gw' package "
                                  "(pip install 'kafkalog[etcd]')") from None
        self.url = url
        self.key = "/" + key if parts.path.startswith("//") else key
        self._client: Any = Etcd3Client(host=parts.hostname, port=parts.port or 2379, timeout=timeout)
        self._cancel: Callable[[], None] | None = None
        self._stopped = threading.Event()

    def load(self) -> TailSettings:
        try:
            values = self._client.get(self.key)
        except Exception as exc:  # connection refused, timeout, an HTTP error: say which, where
            raise TailConfigError(f"{self.url}: cannot read the key: {type(exc).__name__}: {exc}") from None
        if not values:
            raise TailConfigError(f"{self.url}: the key does not exist")
        raw = values[0]
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        return parse_settings(text, self.url)

    def watch(self, on_change: Callable[[], None]) -> threading.Thread:
        """Call ``on_change`` after each change of the key (and after a broken watch is set up again)."""
        thread = threading.Thread(target=self._watch, args=(on_change,), name="kafkalog-tail-etcd", daemon=True)
        thread.start()
        return thread

    def _watch(self, on_change: Callable[[], None]) -> None:
        first = True
        while not self._stopped.is_set():
            try:
                events, self._cancel = self._client.watch(self.key)
                if not first:
                    on_change()  # changes while the watch was down are not replayed: look once
                first = False
                for _ in events:
                    on_change()
            except Exception:  # etcd restarting or unreachable: try again
                pass
            self._stopped.wait(_RETRY)

    def stop(self) -> None:
        self._stopped.set()
        if self._cancel is not None:
            try:
                self._cancel()
            except Exception:
                pass
