"""Choosing a transport by name, lazily (naming one never imports its client library): the registry of
built-in transports and how a name, class, instance or factory becomes a :class:`TransportSpec`."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._client_options import ClientOptions
from ..errors import ConfigError, ConfigTypeError
from ..typing import Transport, TransportFactory

_BUILTIN = {
    "confluent": "kafkalog.transports.confluent",
    "kafka-python": "kafkalog.transports.kafka_python",
    "memory": "kafkalog.transports.memory",
}


@dataclass(frozen=True)
class TransportSpec:
    """A transport's name, its check of ``producer_config`` and the client options (run at construction; returns
    the settings in its client's terms) and its factory (run on the worker)."""

    name: str
    validate: Callable[[Mapping[str, Any], ClientOptions], dict[str, Any]]
    factory: TransportFactory
    client_modules: tuple[str, ...] = ()  # imported by the worker before open(), never cut in half by a fork
    network: bool = True  # resolves host names (the stdlib's lazy imports for that are made fork-safe first)


def _accept_any(config: Mapping[str, Any], options: ClientOptions) -> dict[str, Any]:
    """A custom transport gets ``producer_config`` as it is, plus the client options that are set, under
    kafkalog's names (``producer_linger`` in milliseconds)."""
    settings = dict(config)
    for name, value in options.items():
        if name in settings:
            raise ConfigError(f"{name} and producer_config[{name!r}] set the same thing; set only one")
        settings[name] = value
    return settings


_named_overrides: list[TransportFactory] = []  # innermost last (nested captures)


def override_named_transports(factory: TransportFactory) -> Callable[[], None]:
    """Build every transport named by a string (``"kafka-python"``, ``"confluent"``) with ``factory`` until the
    returned function is called; the named transport's option checks still run, and its client is not imported.

    The supported seam of :mod:`kafkalog.testing`'s capture: configurations made meanwhile ship into ``factory``'s
    transport. A transport object or callable a test passes itself is left alone.
    """
    _named_overrides.append(factory)

    def remove() -> None:
        if factory in _named_overrides:
            _named_overrides.remove(factory)

    return remove


def resolve_transport(transport: object) -> TransportSpec:
    """A spec for ``"kafka-python"`` (default), ``"confluent"`` or a callable ``settings -> Transport``."""
    if isinstance(transport, str):
        module_name = _BUILTIN.get(transport)
        if module_name is None:
            raise ConfigError(f"transport: {transport!r} is not one of {sorted(_BUILTIN)} or a callable")
        module = importlib.import_module(module_name)
        spec: TransportSpec = module.SPEC
        if _named_overrides:
            return dataclasses.replace(spec, factory=_named_overrides[-1], client_modules=())
        return spec
    if isinstance(transport, type):  # a class: calling it with the settings builds the transport
        return TransportSpec(transport.__name__, _accept_any, transport)
    if isinstance(transport, Transport):
        instance = transport
        return TransportSpec("custom", _accept_any, lambda settings: instance)
    if callable(transport):
        return TransportSpec(getattr(transport, "__name__", "custom"), _accept_any, transport)
    raise ConfigTypeError(f"transport: expected a transport name or a callable, got {type(transport).__name__}")
