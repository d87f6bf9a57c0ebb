"""mkdocs hook: fills in the option reference of configuration.md from kafkalog.KafkaLogConfig.

A warning fails `mkdocs build --strict` (what `make docs` runs): an option without a description, or a page that
lost its marker.
"""

from __future__ import annotations

import logging
from typing import Any

from kafkalog import _config_docs

MARKER = "<!-- kafkalog:option-reference -->"
PAGE = "configuration.md"
log = logging.getLogger("mkdocs.hooks.kafkalog")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        log.warning("%s has no %s: the option reference is missing", PAGE, MARKER)
        return markdown
    for name in _config_docs.undocumented():
        log.warning("option %r of KafkaLogConfig has no description in kafkalog/_config_docs.py", name)
    for name in _config_docs.unknown():
        log.warning("kafkalog/_config_docs.py describes %r, which is not an option of KafkaLogConfig", name)
    return markdown.replace(MARKER, _config_docs.reference_markdown())
