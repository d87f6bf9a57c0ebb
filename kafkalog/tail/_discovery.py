"""Which files the inputs name right now: their glob patterns expanded, exclusions applied, regular files only.

Run every ``scan_interval`` seconds, so files that appear later are picked up; the first input naming a path wins.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
from collections.abc import Sequence

from ._config import TailInput


def expand(inputs: Sequence[TailInput]) -> dict[str, tuple[os.stat_result, TailInput]]:
    found: dict[str, tuple[os.stat_result, TailInput]] = {}
    for source in inputs:
        for pattern in source.paths:
            names = glob.glob(pattern, recursive=True) if glob.has_magic(pattern) else [pattern]
            for name in sorted(names):
                path = os.path.abspath(name)
                if path in found or any(fnmatch.fnmatch(path, ex) for ex in source.exclude):
                    continue
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    found[path] = (info, source)
    return found
