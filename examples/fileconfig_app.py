"""fileConfig with KafkaHandler (plus the same JSON on stderr for warnings), a disk spool and a health check.

    python examples/fileconfig_app.py 127.0.0.1:9092
"""

from __future__ import annotations

import logging
import logging.config
import sys
from pathlib import Path

from kafkalog import KafkaHandler


def main(bootstrap: str) -> int:
    ini = Path(__file__).with_name("logging.ini")
    logging.config.fileConfig(ini, defaults={"bootstrap": bootstrap}, disable_existing_loggers=False)
    log = logging.getLogger("inventory.sync")
    for sku in ("A-1", "B-2", "C-3"):
        log.info("synced %s", sku, extra={"action": "sync", "sku": sku})
    log.warning("stock low", extra={"action": "alert", "sku": "C-3", "left": 2})
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, KafkaHandler))
    delivered = handler.flush(10)
    stats = handler.stats()
    print(f"flushed={delivered} delivered={stats.delivered} spooled={stats.spooled} "
          f"dropped={dict(stats.dropped)} healthy={stats.healthy}")
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"))
