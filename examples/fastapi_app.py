"""FastAPI under uvicorn with several worker processes, logging to Kafka.

    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=web-logs \
        uvicorn fastapi_app:app --app-dir examples --workers 2 --port 8000
    curl http://127.0.0.1:8000/log/7      # logs one record with fields.seq = 7

The handler is created here, at import. uvicorn imports the app in each worker process (after it configured
its own loggers, and with its own signal handlers in place), so every worker gets its own handler. Stop the
server with SIGTERM or Ctrl-C: each worker runs the lifespan shutdown, whose records are sent too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kafkalog import KafkaHandler

handler = KafkaHandler(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                       os.environ.get("KAFKA_TOPIC", "web-logs"),
                       static_fields={"service": "fastapi-example"})
log = logging.getLogger("web")
log.addHandler(handler)
log.setLevel(logging.INFO)
# uvicorn's own lines ("Application startup complete.", errors in requests) to Kafka as well, next to its console
# output. uvicorn has set up its loggers before it imports this module, so the handler stays there.
logging.getLogger("uvicorn.error").addHandler(handler)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    log.info("worker started", extra={"event": "startup"})
    yield
    log.info("worker stopping", extra={"event": "shutdown"})  # sent although the process is about to end


app = FastAPI(lifespan=lifespan)


@app.get("/log/{seq}")
async def log_one(seq: int) -> dict[str, int]:
    """Log one record numbered ``seq``; answer with the worker's pid."""
    log.info("request %d", seq, extra={"seq": seq})
    return {"pid": os.getpid()}
