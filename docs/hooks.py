"""mkdocs hook: fills in the option reference of configuration.md, and the table of the constructors' keyword
options in reference.md, from kafkalog.KafkaLogConfig.

A warning fails `mkdocs build --strict` (what `make docs` runs): an option without a description, or a page that
lost its marker.
"""

from __future__ import annotations

import logging
import typing
from typing import Any

from kafkalog import KafkaLogConfig, _config_docs
from kafkalog.options import KafkaOptions

MARKER = "<!-- kafkalog:option-reference -->"
PAGE = "configuration.md"
OPTIONS_MARKER = "<!-- kafkalog:keyword-options -->"
API_PAGE = "reference.md"
log = logging.getLogger("mkdocs.hooks.kafkalog")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri == API_PAGE:
        return _keyword_options(markdown)
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


def _keyword_options(markdown: str) -> str:
    """``**options: Unpack[KafkaOptions]`` of the handler, sink and processor: each option's type and default."""
    if OPTIONS_MARKER not in markdown:
        log.warning("%s has no %s: the constructors' options are missing", API_PAGE, OPTIONS_MARKER)
        return markdown
    hints = typing.get_type_hints(KafkaLogConfig)
    by_name = {f.name: f for f in _config_docs.option_fields()}
    lines = ["| option | type | default |", "|---|---|---|"]
    for name in KafkaOptions.__annotations__:
        f = by_name[name]
        cells = (_config_docs.type_text(hints.get(name, f.type)), _config_docs.default_text(f))
        lines.append(f"| `{name}` | " + " | ".join(_config_docs._cell(c) for c in cells) + " |")
    return markdown.replace(OPTIONS_MARKER, "\n".join(lines))

