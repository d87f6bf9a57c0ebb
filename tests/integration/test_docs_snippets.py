"""The docs run as written: every ``python`` and ``bash`` block of the pages below, against the suite's broker.

A page's blocks run in order. A python block runs in a fresh interpreter, or, after ``<!-- docs-test: continue -->``,
in the same one as the python block before it (a page that says "after the lines above"). A bash block runs in
``bash -e`` with this interpreter's ``kafkalog`` first on PATH. ``<!-- docs-test: skip -->`` before a block leaves it
out (installation, a broker to start, commands that never end). The broker address ``127.0.0.1:9092`` and the topic
``app-logs`` of the pages are replaced by the suite's broker and a topic of the page's own.

What a block prints (stdout) must be what the page shows: the comment lines ending a block (``# 1 {} 0 None``),
or a ``text`` block right after it; times are compared as ``<time>``. A python block that shows nothing must print
nothing; a bash block that shows nothing must only succeed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.integration

PAGES = ["README.md", "docs/getting-started.md"]

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|continue)\b.*-->\s*$")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # where the block starts in the page, for messages
    mark: str | None  # "skip", "continue" or None
    expected: str | None  # the output the page shows, None when it shows none


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, each with its mark and the output the page shows for it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    mark: str | None = None
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            marked = _MARK.match(lines[i].strip())
            if marked:
                mark = marked.group(1)
            elif lines[i].strip():
                mark = None  # a mark belongs to the block right after it
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        found.append(Block(fence.group(1), "\n".join(body) + "\n", start + 1, mark, None))
        mark = None
    for block, after in zip(found, [*found[1:], None], strict=True):
        code = block.code.rstrip("\n").split("\n")
        shown = []
        while code and code[-1].startswith("# ") and len(code) > 1:
            shown.insert(0, code.pop()[2:])
        if shown:
            block.code = "\n".join(code) + "\n"
            block.expected = "\n".join(shown) + "\n"
        elif after is not None and after.lang == "text" and _only_blank_between(lines, block, after):
            block.expected = after.code
    return [b for b in found if b.lang in ("python", "bash")]


def _only_blank_between(lines: list[str], before: Block, after: Block) -> bool:
    end = before.line + before.code.count("\n") + 1  # the closing fence (1-based line numbers)
    return all(not line.strip() for line in lines[end:after.line - 1])


def _normal(text: str) -> str:
    return "\n".join(_TIME.sub("<time>", line).rstrip() for line in text.strip("\n").splitlines())


def test_the_pages_mark_what_they_leave_out() -> None:
    """The parser sees the pages' blocks: each page has blocks that run and blocks that show output."""
    for page in PAGES:
        found = blocks(ROOT / page)
        assert any(b.mark is None for b in found), page
    started = blocks(ROOT / "docs/getting-started.md")
    assert [b.expected is not None for b in started if b.mark != "skip"].count(True) >= 3


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page: str, kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:
    topic = make_topic(1)

    def adapt(code: str) -> str:
        return code.replace("127.0.0.1:9092", kafka_bootstrap).replace("app-logs", topic)

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    # python blocks grouped into interpreters; bash blocks on their own, all in page order
    runs: list[list[Block]] = []
    for block in blocks(ROOT / page):
        if block.mark == "skip":
            continue
        if block.mark == "continue":
            assert runs and runs[-1][0].lang == "python", f"{page}:{block.line}: nothing to continue"
            runs[-1].append(block)
        else:
            runs.append([block])
    assert runs
    failures: list[str] = []
    for run in runs:
        if run[0].lang == "bash":
            block = run[0]
            proc = subprocess.run(["bash", "-e", "-c", adapt(block.code)], capture_output=True, text=True,
                                  env=env, cwd=tmp_path, timeout=120, check=False)
            outputs = [proc.stdout]
        else:
            marker = "----- next docs block -----"
            script = f"\nprint({marker!r}, flush=True)\n".join(adapt(b.code) for b in run)
            proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                                  cwd=tmp_path, timeout=120, check=False)
            outputs = proc.stdout.split(marker + "\n")
        where = f"{page}:{run[0].line}"
        if proc.returncode != 0:
            failures.append(f"{where}: exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}")
            continue
        for block, output in zip(run, outputs, strict=True):
            if block.expected is None and block.lang == "bash":
                continue
            expected = _normal(adapt(block.expected or ""))
            if _normal(output) != expected:
                failures.append(f"{page}:{block.line}: printed\n{output}\nthe page shows\n{block.expected or ''}"
                                f"\nstderr:\n{proc.stderr[-3000:]}")
    assert not failures, "\n\n".join(failures)
