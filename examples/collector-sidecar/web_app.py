"""A WSGI app whose workers hand their records to the collector sidecar (see compose.yaml next to this file).

    KAFKALOG_COLLECTOR=/run/kafkalog/collector.sock gunicorn --preload -w 8 web_app:app
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from kafkalog import KafkaHandler

handler = KafkaHandler(collector=os.environ.get("KAFKALOG_COLLECTOR", "/run/kafkalog/collector.sock"),
                       topic="web-logs", static_fields={"service": "web"})
log = logging.getLogger("web")
log.addHandler(handler)
log.setLevel(logging.INFO)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    log.info("request %s", environ["PATH_INFO"], extra={"path": environ["PATH_INFO"]})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
