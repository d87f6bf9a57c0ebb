"""``kafkalog tail``: follow log files and ship each line (or multi-line entry) as a record.

The same record contract and the same shipper as :class:`~kafkalog.KafkaHandler` (intake, worker, retries, disk
spool, stats); only the source of records differs. Modules, one job each: ``_discovery`` (globs), ``_identity``
(which file is which), ``_lines`` (bytes -> lines -> entries), ``_events`` (entry -> record), ``_follow`` (one
file), ``_offsets`` (saved positions), ``_config`` (inputs, TOML), ``_agent`` (the loop), ``_run`` (shipper
options, running until stopped), ``_command`` (the command's choices to a ready agent). See docs/tail.md.
"""

from __future__ import annotations

from ._agent import TailAgent
from ._command import PreparedTail, TailRequest, choose_transport, prepare
from ._config import TailConfigError, TailInput, TailSettings, load_settings, make_input
from ._offsets import StateDirInUse
from ._run import run_until_stopped, shipper_config

__all__ = ["PreparedTail", "StateDirInUse", "TailAgent", "TailConfigError", "TailInput", "TailRequest",
           "TailSettings", "choose_transport", "load_settings", "make_input", "prepare", "run_until_stopped",
           "shipper_config"]
