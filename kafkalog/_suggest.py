"""Close matches for a misspelt name, so an error says the fix: ``topik: unknown option (did you mean 'topic'?)``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_to(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, if one is close enough to be a slip of the keyboard."""
    words = list(known)
    matches = difflib.get_close_matches(name, words, n=1, cutoff=0.75)
    if not matches:  # a different separator or case: bootstrap.servers, Bootstrap-Servers
        normal = {w.lower().replace(".", "_").replace("-", "_"): w for w in words}
        matches = difflib.get_close_matches(name.lower().replace(".", "_").replace("-", "_"), list(normal), n=1,
                                            cutoff=0.75)
        matches = [normal[m] for m in matches]
    return matches[0] if matches else None


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'topic'?)`` when ``name`` is close to one of ``known``, else ``""``."""
    match = close_to(name, known)
    return f" (did you mean {match!r}?)" if match is not None else ""
