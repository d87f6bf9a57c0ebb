"""The collector: a Unix socket many local processes hand their records to, and one pipeline that ships them.

One thread runs an asyncio loop that serves every client; each batch is decoded, checked and put into the
:class:`~kafkalog.collector._pipeline.Pipeline` whole (then acknowledged) or refused as busy. A client that
breaks the protocol (garbage, a truncated or oversized frame, a stall mid-frame, a flood of sends while busy) is
cut off and counted; the others go on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import stat
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from .._worker import CloseReport
from ..config import KafkaLogConfig
from ..errors import Reason
from . import _framing as wire
from ._peer import Peer, allowed, peer_of
from ._pipeline import Pipeline
from ._share import OVER_SHARE

_SESSIONS_KEPT = 10_000  # last sequence number per client session, to take a batch sent again only once
_FLOOD_WINDOW = 1.0
_RECENT_CLIENTS = 64


class CollectorError(Exception):
    """The collector cannot start; ``code`` is the exit code ``kafkalog collect`` ends with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ListenSettings:
    """Where and to whom the collector listens, and its bounds (docs/collector.md)."""

    socket_path: str
    socket_mode: int = 0o600
    group: int | None = None  # the socket's group (chown), also allowed to connect
    allowed_groups: frozenset[int] = frozenset()
    max_clients: int = 256
    max_frame: int = wire.DEFAULT_MAX_FRAME
    frame_timeout: float = 30.0  # a frame begun must be complete within this
    hello_timeout: float = 10.0
    max_busy_per_second: int = 200  # busy answers to one client in a second beyond which it is a flood


@dataclass
class ClientInfo:
    """One connection's accounting, shown by ``stats``."""

    pid: int
    uid: int
    name: str = ""
    connected_at: float = field(default_factory=time.time)
    records: int = 0
    batches: int = 0
    busy: int = 0
    over_share: int = 0  # of the busy answers, those because it held more than its share of the queue
    duplicates: int = 0
    cut_off: str = ""
    closed_at: float | None = None
    session: bytes = b""

    def shown(self, queued: int = 0) -> dict[str, Any]:
        return {"pid": self.pid, "uid": self.uid, "name": self.name, "connected_at": self.connected_at,
                "records": self.records, "batches": self.batches, "busy": self.busy,
                "over_share": self.over_share, "queued": queued, "duplicates": self.duplicates,
                "cut_off": self.cut_off, "closed_at": self.closed_at}


def _cancel_every_task(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await every task of ``loop`` (as ``asyncio.run`` does), also a client's that was accepted but has
    not started yet, and again for those that connections accepted meanwhile start: a task left pending is destroyed
    with the loop ("coroutine '_serve' was never awaited", "Task was destroyed but it is pending!")."""
    for _ in range(100):  # the listener is closed: only connections already accepted can add tasks
        tasks = asyncio.all_tasks(loop)
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class Collector:
    """``Collector(config, ListenSettings(path)).start()``; ``close(timeout)`` stops accepting and drains."""

    def __init__(self, config: KafkaLogConfig, listen: ListenSettings, *, pipeline: Pipeline | None = None) -> None:
        """``pipeline``: where records go (default: a new one, started by :meth:`start`)."""
        self.config = config
        self.listen = listen
        self.pipeline: Pipeline | None = pipeline
        self.started_at = time.time()
        self._sock: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._sessions: OrderedDict[bytes, int] = OrderedDict()
        self._clients: dict[int, ClientInfo] = {}
        self._recent: deque[ClientInfo] = deque(maxlen=_RECENT_CLIENTS)
        self._disk_writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafkalog-collector-disk")
        self.totals: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.cut_off: Counter[str] = Counter()
        self.close_report: CloseReport | None = None
        self.owner_pid = os.getpid()

    # --- start and stop ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket (CollectorError if it cannot be), start shipping and serving on a thread."""
        self._sock = self._bind()
        if self.pipeline is None:
            self.pipeline = Pipeline(self.config)
        self._thread = threading.Thread(target=self._run, name="kafkalog-collector", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)

    def _bind(self) -> socket.socket:
        path = self.listen.socket_path
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise CollectorError(f"socket directory {directory} does not exist", 3)
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise CollectorError(f"{path} exists and is not a socket", 3)
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(1.0)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # left by a collector that is gone
            else:
                raise CollectorError(f"{path} is in use by a running collector", 1)
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is never reachable with more than owner-only rights
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise CollectorError(f"cannot listen on {path}: {exc}", 3) from None
        finally:
            os.umask(old_umask)
        try:
            if self.listen.group is not None:
                os.chown(path, -1, self.listen.group)
            os.chmod(path, self.listen.socket_mode)
        except OSError as exc:
            sock.close()
            os.unlink(path)
            raise CollectorError(f"cannot set the owner or mode of {path}: {exc}", 3) from None
        info = os.stat(path)
        self._inode = (info.st_dev, info.st_ino)
        sock.listen(min(socket.SOMAXCONN, 1024))
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_unix_server(self._serve, sock=self._sock))
            self._ready.set()
            loop.run_forever()
        finally:
            self._ready.set()
            _cancel_every_task(loop)
            loop.close()

    def close(self, timeout: float | None = None) -> CloseReport:
        """Stop accepting (the socket file is removed), let go of the clients, deliver within ``timeout``."""
        if self.close_report is not None:
            return self.close_report
        timeout = self.config.close_timeout if timeout is None else timeout
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._stop_serving)
            thread.join(5.0)
        self._remove_socket_file()
        self._disk_writer.shutdown(wait=False, cancel_futures=True)
        pipeline = self.pipeline
        if pipeline is None:
            return CloseReport(delivered=0, left=0, timed_out=False, elapsed=0.0)
        self.close_report = pipeline.close(timeout)
        return self.close_report

    def _stop_serving(self) -> None:
        if self._server is not None:
            self._server.close()
        assert self._loop is not None
        self._loop.stop()

    def _remove_socket_file(self) -> None:
        """Remove the socket file if it is still ours (a newer collector may have taken the path)."""
        path = self.listen.socket_path
        with contextlib.suppress(OSError):
            info = os.stat(path)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(path)

    # --- serving one client ------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_client(reader, writer)
        except asyncio.CancelledError:
            pass  # the collector is closing
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer.get_extra_info("socket"))
        refusal = self._refusal(peer)
        if refusal:
            self.refused[refusal] += 1
            return
        client = ClientInfo(pid=peer.pid if peer else 0, uid=peer.uid if peer else -1)
        key = id(client)
        share = self.pipeline.share if self.pipeline is not None else None
        self._clients[key] = client
        try:
            kind, payload = await self._read_frame(reader, self.listen.hello_timeout, first=True)
            if kind != wire.HELLO:
                raise wire.FrameError("no_hello", "the first frame must be HELLO")
            _, session, client.name = wire.decode_hello(payload)
            client.session = session
            if share is not None:
                share.connected(session)
            writer.write(wire.encode_welcome(self.listen.max_frame))
            await writer.drain()
            await self._frames(reader, writer, client, session)
        except wire.FrameError as exc:
            self._cut_off(client, exc.code)
        except asyncio.TimeoutError:
            self._cut_off(client, "stalled")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self._cut_off(client, "truncated")
        except (ConnectionError, OSError):
            pass
        except Exception as exc:  # a bug here must end this connection only, and say why
            self._cut_off(client, Reason.INTERNAL_ERROR)
            if self.pipeline is not None:
                self.pipeline.worker.report(Reason.INTERNAL_ERROR, f"collector: {type(exc).__name__}: {exc}")
        finally:
            if share is not None and client.session:
                share.disconnected(client.session)
            client.closed_at = time.time()
            self._clients.pop(key, None)
            self._recent.append(client)

    def _refusal(self, peer: Peer | None) -> str:
        if len(self._clients) >= self.listen.max_clients:
            return "too_many_clients"
        groups = self.listen.allowed_groups | ({self.listen.group} if self.listen.group is not None else set())
        if peer is not None and not allowed(peer, groups=frozenset(groups)):
            return "not_allowed"
        return ""

    def _cut_off(self, client: ClientInfo, code: str) -> None:
        client.cut_off = code
        self.cut_off[code] += 1

    async def _frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: ClientInfo,
                      session: bytes) -> None:
        busy_times: deque[float] = deque()
        while True:
            try:
                kind, payload = await self._read_frame(reader, None)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                return  # a clean end between frames
            if kind == wire.STATS:
                writer.write(wire.encode_stats_reply(self.stats()))
            elif kind == wire.BATCH:
                seq, messages = wire.decode_batch(payload)
                status, reason = await self._take(session, seq, messages, client)
                if status == wire.BUSY:
                    now = time.monotonic()
                    busy_times.append(now)
                    while busy_times and busy_times[0] < now - _FLOOD_WINDOW:
                        busy_times.popleft()
                    if len(busy_times) > self.listen.max_busy_per_second:
                        raise wire.FrameError("flood", "sends without waiting while the collector is busy")
                writer.write(wire.encode_ack(seq, status, reason))
            else:
                raise wire.FrameError("unknown_type", f"frame type {kind} after HELLO")
            await writer.drain()

    async def _read_frame(self, reader: asyncio.StreamReader, first_timeout: float | None,
                          first: bool = False) -> tuple[int, bytes]:
        """One frame: the header may take as long as ``first_timeout`` (None: forever), the rest frame_timeout."""
        header = await asyncio.wait_for(reader.readexactly(wire.HEADER.size), first_timeout)
        kind, length = wire.parse_header(header, self.listen.max_frame, wire.CLIENT_TYPES)
        payload = await asyncio.wait_for(reader.readexactly(length), self.listen.frame_timeout) if length else b""
        return kind, payload

    async def _take(self, session: bytes, seq: int, messages: list[Any], client: ClientInfo) -> tuple[int, str]:
        sessions = self._sessions
        last = sessions.get(session, 0)
        if seq <= last:  # sent again after a lost acknowledgement: taken already
            client.duplicates += 1
            self.totals["duplicates"] += 1
            return wire.ACCEPTED, ""
        pipeline = self.pipeline
        assert pipeline is not None
        if pipeline.durable:  # written to disk before the ack: off the loop, which keeps serving meanwhile
            status, reason = await asyncio.get_running_loop().run_in_executor(self._disk_writer, pipeline.offer,
                                                                              messages, session)
        else:
            status, reason = pipeline.offer(messages, session)
        if status == wire.BUSY:
            client.busy += 1
            self.totals["busy"] += 1
            if reason.startswith(OVER_SHARE):
                client.over_share += 1
                self.totals["over_share"] += 1
            return status, reason
        sessions[session] = seq
        sessions.move_to_end(session)
        if len(sessions) > _SESSIONS_KEPT:
            sessions.popitem(last=False)
        client.records += len(messages)
        client.batches += 1
        self.totals["records"] += len(messages)
        self.totals["batches"] += 1
        return status, reason

    # --- stats -------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Totals, the pipeline's stats and each client's (connected ones and the last few gone)."""
        pipeline = self.pipeline
        share = pipeline.share if pipeline is not None else None
        for _ in range(5):  # asked from another thread, the loop may change the dict meanwhile: look again
            try:
                clients, recent = list(self._clients.values()), list(self._recent)
                break
            except RuntimeError:
                continue
        else:
            clients, recent = [], []
        return {
            "pid": os.getpid(),
            "socket": self.listen.socket_path,
            "started_at": self.started_at,
            "records": self.totals["records"],
            "batches": self.totals["batches"],
            "busy": self.totals["busy"],
            "over_share": self.totals["over_share"],
            "duplicates": self.totals["duplicates"],
            "clients_connected": len(self._clients),
            "refused": dict(self.refused),
            "cut_off": dict(self.cut_off),
            "pipeline": pipeline.stats_dict() if pipeline is not None else {},
            "clients": [client.shown(share.held(client.session)[0] if share is not None else 0)
                        for client in clients],
            "recent_clients": [client.shown() for client in recent],
        }

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
