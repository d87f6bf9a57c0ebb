"""``os.register_at_fork``: before a fork, hook the pool exits and wait out client imports; in the child, start
clean (fresh workers, SIGTERM not blocked)."""

from __future__ import annotations

import os

from . import _client_import, _registry
from ._pools import hook_process_exits
from ._signals import release_held_sigterm


def _before_fork() -> None:
    if _registry.any_live():
        hook_process_exits(importing=False)
    _client_import.wait_for_imports()


def _after_fork_in_child() -> None:
    _client_import.reset_after_fork()
    release_held_sigterm()  # the mask is inherited: a child must not start with SIGTERM blocked
    for worker in _registry.live():
        worker.reset_after_fork()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
