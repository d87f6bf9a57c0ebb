"""``python -m kafkalog``: the same as the ``kafkalog`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
