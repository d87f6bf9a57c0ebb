"""asyncio with kafkalog: 100 concurrent tasks log from the event loop, and nothing needs awaiting.

    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=async-logs python examples/asyncio_app.py [TASKS]

A logging call only puts the record on kafkalog's queue, so it is safe in a coroutine: the network I/O happens
on kafkalog's own thread, never on the event loop. Only ``flush()`` and ``close()`` wait; from a coroutine,
run them in a thread (``await asyncio.to_thread(handler.flush)``) so the loop keeps running. At exit, kafkalog
sends what is queued, so this script ends without either. It also runs under ``python -W error``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from kafkalog import KafkaHandler

log = logging.getLogger("asyncio.example")


async def handle(seq: int) -> None:
    """A stand-in for a request handler: some awaiting, then one record with its number in ``fields.seq``."""
    await asyncio.sleep(0.001 * (seq % 10))
    log.info("request %d handled", seq, extra={"seq": seq})


async def main(tasks: int) -> None:
    """Run ``tasks`` handlers at the same time, each one an asyncio task."""
    await asyncio.gather(*(asyncio.create_task(handle(seq), name=f"request-{seq}") for seq in range(tasks)))


if __name__ == "__main__":
    handler = KafkaHandler(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                           os.environ.get("KAFKA_TOPIC", "async-logs"),
                           static_fields={"service": "asyncio-example"})
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    asyncio.run(main(count))
    print(f"sent {count} records")
