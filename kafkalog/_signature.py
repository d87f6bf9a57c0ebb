"""What the constructors of the handler, the sink and the processor share: their keyword options are
``**options: Unpack[KafkaOptions]`` (:mod:`kafkalog.options`, the one list of them), so editors complete them and
mypy flags a misspelt one; at run time ``inspect.signature`` (``help()``, a REPL's completion) shows every option
as a keyword parameter with KafkaLogConfig's type and default, and a name that is no option raises
:class:`~kafkalog.ConfigTypeError` naming the closest one, before any check of values (``KafkaHandler(B,
topik="t")`` says ``topik``, not "topic is required").

tests/unit/test_signatures.py keeps KafkaOptions in step with KafkaLogConfig's fields.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ForwardRef, ParamSpec, TypeVar

from .config import KafkaLogConfig, check_option_names, default_of
from .options import KafkaOptions

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The default shown for the mapping options (``static_fields``, ``producer_config``): a fresh empty mapping."""

P = ParamSpec("P")
R = TypeVar("R")


def option_parameters() -> list[inspect.Parameter]:
    """Each option as a keyword-only parameter, with its type (as written in KafkaOptions) and its default."""
    defaults = default_of(EMPTY)
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name], annotation=_text(hint))
            for name, hint in KafkaOptions.__annotations__.items()]


def _text(hint: Any) -> Any:
    return hint.__forward_arg__ if isinstance(hint, ForwardRef) else hint


def checked_names(owner: str, elsewhere: Mapping[str, str] | None = None
                  ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a constructor ending in ``**options: Unpack[KafkaOptions]``: its run-time signature lists every
    option, and an unknown keyword raises ConfigTypeError with the closest name, or says where a name belongs
    (``elsewhere``: name -> where)."""

    def decorate(init: Callable[P, R]) -> Callable[P, R]:
        written = inspect.signature(init)
        own = [p for p in written.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        signature = written.replace(parameters=[*own, *option_parameters()])
        names = [name for name in signature.parameters if name != "self"]

        @functools.wraps(init)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            check_option_names(kwargs, elsewhere, known=names, owner=owner)
            return init(*args, **kwargs)

        checked.__signature__ = signature  # type: ignore[attr-defined]
        return checked

    return decorate


def config_from(bootstrap_servers: Any, topic: Any, config: KafkaLogConfig | None,
                options: Mapping[str, Any]) -> KafkaLogConfig:
    """The config from a constructor's arguments: ``config=``, or ``bootstrap_servers``, ``topic`` and the options
    given."""
    return KafkaLogConfig.from_options(bootstrap_servers, topic, config, options)
