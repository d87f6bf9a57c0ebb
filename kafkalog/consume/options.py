"""One run's settings, checked once at construction (bad values raise :class:`ConfigError` naming the option)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._secrets import masked, secret_values
from ..errors import ConfigError
from .clients import check_options
from .filters import Filters
from .output import FORMATS
from .positions import Start
from .reader import CLIENTS, ConsumeError, ReaderSettings


@dataclass(frozen=True, repr=False)
class ConsumeOptions:
    """``client_config`` holds consumer options in the client's own names (kafka-python: ``security_protocol``,
    ``sasl_plain_password``...; confluent: ``security.protocol``, ``sasl.password``...). Secret values never show
    in the repr or in error messages."""

    bootstrap_servers: str
    topic: str
    start: Start = field(default_factory=lambda: Start("beginning"))
    follow: bool = False
    group: str | None = None
    filters: Filters = field(default_factory=Filters)
    output: str = "pretty"
    color: bool = False
    meta: bool = False
    max_records: int | None = None
    client: str = "kafka-python"
    client_config: Mapping[str, Any] = field(default_factory=dict)
    commit_interval: float = 1.0
    timeout: float = 30.0
    dedup: int | None = None  # --dedup: the number of ids remembered; None: no dedup

    def __post_init__(self) -> None:
        if not self.bootstrap_servers.strip():
            raise ConfigError("--bootstrap-servers: expected HOST:PORT[,HOST:PORT...], got an empty value")
        if not self.topic.strip():
            raise ConfigError("--topic: expected a topic name, got an empty value")
        if self.output not in FORMATS:
            raise ConfigError(f"--output: {self.output!r} is not one of {list(FORMATS)}")
        if self.client not in CLIENTS:
            raise ConfigError(f"--transport: {self.client!r} is not one of {list(CLIENTS)}")
        if self.max_records is not None and self.max_records < 1:
            raise ConfigError(f"--max-records: expected a positive number, got {self.max_records}")
        if self.group is not None and not self.group.strip():
            raise ConfigError("--group: expected a group id, got an empty value")
        if self.dedup is not None and self.dedup < 1:
            raise ConfigError(f"--dedup-window: expected a positive number of ids, got {self.dedup}")
        if self.commit_interval < 0 or self.timeout <= 0:
            raise ConfigError("commit_interval must be >= 0 and timeout > 0 (seconds)")
        try:  # a misspelt client option, with the closest name, before anything connects
            check_options(self.client, self.reader_settings())
        except ConsumeError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def secrets(self) -> tuple[str, ...]:
        return secret_values(self.client_config)

    def reader_settings(self) -> ReaderSettings:
        return ReaderSettings(bootstrap_servers=self.bootstrap_servers, topic=self.topic, start=self.start,
                              group=self.group, client_config=dict(self.client_config), secrets=self.secrets,
                              timeout=self.timeout)

    def __repr__(self) -> str:
        return (f"ConsumeOptions(bootstrap_servers={self.bootstrap_servers!r}, topic={self.topic!r}, "
                f"start={self.start!r}, follow={self.follow}, group={self.group!r}, output={self.output!r}, "
                f"client={self.client!r}, client_config={masked(self.client_config)!r})")
