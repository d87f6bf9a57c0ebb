"""The runnable examples of docs/structlog.md and docs/context.md (those on the memory transport) run as shown."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from support import ROOT

DOCS = ("structlog.md", "context.md")


def _examples() -> list[tuple[str, str]]:
    found = []
    for name in DOCS:
        blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / name).read_text(), re.S)
        found += [(f"{name}#{i}", block) for i, block in enumerate(blocks) if "MemoryTransport()" in block]
    return found


EXAMPLES = _examples()


def test_examples_were_found() -> None:
    """Each page has runnable examples (so the test below cannot pass by finding none)."""
    assert {name.split("#")[0] for name, _ in EXAMPLES} == set(DOCS)


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs_and_prints_what_the_page_shows(name: str, code: str) -> None:
    """The example exits 0 (its asserts hold) and prints the ``# output`` lines that close it, if any."""
    shown = []
    for line in reversed(code.rstrip().splitlines()):
        if not line.startswith("# "):
            break
        shown.insert(0, line[2:])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    if shown:
        assert result.stdout.splitlines() == shown
