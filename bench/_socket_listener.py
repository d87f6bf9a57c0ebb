"""The stdlib cookbook's answer to "many processes, one place for their logs", as the cookbook describes it: a
``logging.handlers.SocketHandler`` in each process and a TCP listener process that unpickles each record.

    python bench/_socket_listener.py PORT OUTPUT

Written here for bench/collector.py (``--only sockethandler``). The listener writes the ``seq`` extra of each
record it receives to OUTPUT, one per line, flushed per record (appending: a restarted listener adds to the same
file), so what it received is known even if it is killed. It handles each record in a thread per connection
(``socketserver.ThreadingTCPServer``), as the cookbook's receiver does.
"""

from __future__ import annotations

import logging
import pickle
import signal
import socketserver
import struct
import sys
import threading
from typing import IO, Any

_LENGTH = struct.Struct(">L")  # SocketHandler's frame: a 4-byte big-endian length, then a pickled dict


class RecordStreamHandler(socketserver.StreamRequestHandler):
    """One connection: length-prefixed pickles of LogRecord dicts, until the sender closes."""

    server: Listener

    def handle(self) -> None:
        while True:
            header = self._read(_LENGTH.size)
            if header is None:
                return
            (length,) = _LENGTH.unpack(header)
            data = self._read(length)
            if data is None:
                return
            record = logging.makeLogRecord(pickle.loads(data))  # trusted senders only, as the cookbook warns
            self.server.received(record)

    def _read(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = self.connection.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data


class Listener(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int, output: IO[str]) -> None:
        super().__init__(("127.0.0.1", port), RecordStreamHandler)
        self._output = output
        self._lock = threading.Lock()

    def received(self, record: Any) -> None:
        with self._lock:
            self._output.write(f"{getattr(record, 'seq', -1)}\n")
            self._output.flush()


def main(argv: list[str]) -> int:
    port, output = int(argv[0]), argv[1]
    with open(output, "a", encoding="utf-8") as out:
        server = Listener(port, out)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        print("listening", flush=True)
        server.serve_forever(poll_interval=0.05)
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
