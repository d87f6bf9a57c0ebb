"""What the typed constructors of the handler, the sink and the processor share: every option of
:class:`~kafkalog.KafkaLogConfig` is a keyword parameter of theirs (so editors complete them and mypy flags a
misspelt one), and at run time a name that is no parameter raises :class:`~kafkalog.ConfigTypeError` naming the
closest one, before any check of values (``KafkaHandler(B, topik="t")`` says ``topik``, not "topic is required").

tests/unit/test_signatures.py keeps the parameters in step with KafkaLogConfig's fields.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from .config import KafkaLogConfig, check_option_names, default_of

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The default of the mapping options (``static_fields``, ``producer_config``): empty, and never shared mutably."""

P = ParamSpec("P")
R = TypeVar("R")


def checked_names(owner: str, elsewhere: Mapping[str, str] | None = None
                  ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a constructor so an unknown keyword raises ConfigTypeError with the closest parameter, or says
    where a name belongs (``elsewhere``: name -> where), instead of Python's bare TypeError."""

    def decorate(init: Callable[P, R]) -> Callable[P, R]:
        names = [name for name in inspect.signature(init).parameters if name != "self"]

        @functools.wraps(init)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            check_option_names(kwargs, elsewhere, known=names, owner=owner)
            return init(*args, **kwargs)

        return checked

    return decorate


def config_from(arguments: Mapping[str, Any]) -> KafkaLogConfig:
    """The config from a constructor's arguments (its ``locals()``): ``config=``, or ``bootstrap_servers``,
    ``topic`` and the options given a value other than their default."""
    options = {}
    for name, value in arguments.items():
        if name in ("self", "bootstrap_servers", "topic", "config") or name not in _OPTIONS:
            continue
        default = _OPTIONS[name]
        if value is default or (type(value) is type(default) and _equal(value, default)):
            continue
        options[name] = value
    return KafkaLogConfig.from_options(arguments.get("bootstrap_servers"), arguments.get("topic"),
                                       arguments.get("config"), options)


def _equal(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except Exception:
        return False


_OPTIONS: dict[str, Any] = default_of(EMPTY)
