"""``python -m kafkalog.testing``: run a local broker (or cluster) until Ctrl-C, or just fetch the jars."""

from __future__ import annotations

from ._cli import main

raise SystemExit(main())
