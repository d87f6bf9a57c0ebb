"""Reading log records back from a topic: what ``kafkalog consume`` runs.

One job per module: :mod:`.positions` (where to start), :mod:`.reader` (the client interface) with one module per
client (:mod:`._kafka_python`, :mod:`._confluent`), :mod:`.view` (what a stored value says: kafkalog, ECS, OTLP or
raw), :mod:`.filters`, :mod:`.output` and :mod:`.pretty` (the output formats), :mod:`.security` (the consumer's
settings in each client's names), :mod:`._reach` (the connection, login and topic checked first by ``kafkalog
check``'s steps) and :mod:`.session` (the loop that reads, filters, writes, flushes and commits).
Nothing here is imported by ``import kafkalog``.
"""

from __future__ import annotations

from ._reach import Unreachable
from .filters import Filters
from .options import ConsumeOptions
from .positions import Start, parse_start
from .reader import ConsumeError
from .session import Session, SessionResult

__all__ = ["ConsumeError", "ConsumeOptions", "Filters", "Session", "SessionResult", "Start", "Unreachable",
           "parse_start"]
