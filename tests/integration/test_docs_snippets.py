"""The docs run as written: every code block of README.md and of each page under docs/, against the suite's broker.

Each ``python``, ``bash``, ``console``, ``toml``, ``ini`` and ``yaml`` block either runs or is marked, in an HTML
comment on the line before it (several marks may precede a block), with why it does not:

- ``<!-- docs-test: skip (the reason) -->`` leaves it out: installation, a broker or service of its own (SASL,
  etcd, a collector's socket under /run), commands that never end, fragments of a larger file. The reason is
  required.
- ``<!-- docs-test: continue -->`` runs a python block in the same interpreter as the python block before it (a
  page that says "after the lines above").
- ``<!-- docs-test: varies (what) -->`` compares the output with ids (a cluster's) and numbers (offsets, counts,
  durations) left out, and JSON records key by key without the values that are the reader's own (time, host,
  pid, file, line, id, stack), for output that differs from one machine or run to the next.
- ``<!-- docs-test: setup NAME -->`` runs the setup of that name (``SETUPS`` below) first: what the page only
  describes, such as records in the topic for a command that reads them.
- ``<!-- docs-test: file NAME -->`` writes the block to NAME in the page's working directory, for the blocks after
  it (``logging.ini`` read by ``fileConfig``, a TOML file given to a command).

A page's blocks run in order, in a working directory of the page's own (``examples/`` of the checkout is there). A
python block runs as a script in an interpreter of its own (forked from a warm one: tests/docs_runner.py); a bash
block in ``bash -e`` with this interpreter's ``kafkalog`` first on PATH; a ``console`` block runs its ``$ ``
lines and compares what they print, stdout and stderr, with the lines under them. The example broker addresses
of the pages (``127.0.0.1:9092``, ``kafka-1:9092``, ...) and the topic ``app-logs`` are replaced by the suite's
broker and a topic of the page's own.

What a block prints (stdout) must be what the page shows: the comment lines ending a block (``# 1 {} 0 None``),
or a ``text`` block right after it; times are compared as ``<time>``, and ``...`` in what the page shows stands
for anything (a shortened line, a value that is the reader's own: host, pid, file). A python block that shows
nothing must print nothing; a bash block that shows nothing must only succeed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.integration

PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
RUNNABLE = ("python", "bash", "console", "toml", "ini", "yaml")
# the example addresses the pages use for "your broker"
ADDRESSES = ("127.0.0.1:9092", "kafka-1:9092", "kafka1:9092", "kafka:9092")

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|continue|file|varies|setup)\b\s*(.*?)\s*-->\s*$")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")
_ID = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{22}(?![\w-])")  # a Kafka cluster id
_NUMBER = re.compile(r"\d+(\.\d+)?")
_COLOR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # where the block starts in the page, for messages
    marks: dict[str, str]  # "skip", "continue", "file", "varies", "setup" -> the reason, file or setup name
    expected: str | None  # the output the page shows, None when it shows none


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` that can run, each with its mark and the output the page shows for it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    marks: dict[str, str] = {}
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            marked = _MARK.match(lines[i].strip())
            if marked:
                marks[marked.group(1)] = marked.group(2).strip("() ")
            elif lines[i].strip():
                marks = {}  # marks belong to the block right after them
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        found.append(Block(fence.group(1), "\n".join(body) + "\n", start + 1, marks, None))
        marks = {}
    for block, after in zip(found, [*found[1:], None][:len(found)], strict=True):
        if block.lang in ("console", "text") or "file" in block.marks:
            continue
        shown = _shown_in_comments(block.code.rstrip("\n").split("\n"))
        if shown:
            block.expected = "\n".join(shown) + "\n"
        elif after is not None and after.lang in ("text", "json") and _only_blank_between(lines, block, after):
            block.expected = after.code
    return [b for b in found if b.lang in RUNNABLE]


def _shown_in_comments(code: list[str]) -> list[str]:
    """The output a block shows in comments: the ``# `` lines right after each ``print(...)`` line, or, where no
    print is followed by any, the ``# `` lines that end the block (what a logging call writes to stdout)."""
    shown: list[str] = []
    after_print = False
    for line in code:
        if line.startswith("# ") and after_print:
            shown.append(line[2:])
        elif line.startswith("print("):
            after_print = True
        elif not (after_print and line.startswith((" ", ")"))):  # the lines of a print(...) go on: still after it
            after_print = False
    if shown:
        return shown
    trailing: list[str] = []
    while code and code[-1].startswith("# ") and len(code) > 1:
        trailing.insert(0, code.pop()[2:])
    return trailing


def _only_blank_between(lines: list[str], before: Block, after: Block) -> bool:
    """Only blank lines between, or a line that says what follows is printed ("prints (host, pid ... vary):")."""
    end = before.line + before.code.count("\n") + 1  # the closing fence (1-based line numbers)
    between = [line for line in lines[end:after.line - 1] if line.strip()]
    return not between or (after.lang == "json" and len(between) == 1 and between[0].startswith("prints"))


def _normal(text: str, varies: bool = False) -> str:
    """``text`` without colours, times as ``<time>``; where the page says the output varies, ids and numbers too."""
    lines = [_TIME.sub("<time>", _COLOR.sub("", line)).rstrip() for line in text.strip("\n").splitlines()]
    if varies:
        lines = [_NUMBER.sub("<n>", _ID.sub("<id>", line)) for line in lines]
    return "\n".join(lines)


# the record keys whose values are the reader's own (their machine, process, file, moment)
_OWN_KEYS = frozenset({"time", "host", "pid", "file", "line", "id", "stack"})


def _json_values(text: str) -> list[object] | None:
    """The JSON values ``text`` holds one after the other, or None if it is not only JSON."""
    decoder, values, at = json.JSONDecoder(), [], 0
    text = text.strip()
    try:
        while at < len(text):
            value, at = decoder.raw_decode(text, at)
            values.append(value)
            while at < len(text) and text[at].isspace():
                at += 1
    except ValueError:
        return None
    return values


def _alike(printed: object, shown: object) -> bool:
    """The same JSON, apart from the values of ``_OWN_KEYS`` (and the same keys, in the same order)."""
    if isinstance(printed, dict) and isinstance(shown, dict):
        return list(printed) == list(shown) and all(
            key in _OWN_KEYS or _alike(printed[key], shown[key]) for key in printed)
    if isinstance(printed, list) and isinstance(shown, list):
        return len(printed) == len(shown) and all(map(_alike, printed, shown))
    return printed == shown


def _same(printed: str, shown: str, *, varies: bool) -> bool:
    """Whether ``printed`` is what the page ``shown``: where the page writes ``...``, anything (doctest's ellipsis),
    and then a line the page wraps may be one line in the output. Where it varies, JSON is compared by
    :func:`_alike`."""
    if varies:
        printed_values, shown_values = _json_values(printed), _json_values(shown)
        if printed_values is not None and shown_values is not None:
            return _alike(printed_values, shown_values)
    printed, shown = _normal(printed, varies), _normal(shown, varies)
    if "..." not in shown:
        return printed == shown
    pieces = [r"\s*".join(re.escape(word) for word in piece.split()) for piece in shown.split("...")]
    return re.fullmatch(r".*?".join(pieces), printed, re.DOTALL) is not None


class PythonRunner:
    """The warm interpreter of tests/docs_runner.py: one per session, a forked child per python block."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).parent.parent / "docs_runner.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def run(self, script: Path, cwd: Path, timeout: int = 120) -> tuple[int, str, str]:
        out, err = script.with_suffix(".out"), script.with_suffix(".err")
        request = {"script": str(script), "cwd": str(cwd), "stdout": str(out), "stderr": str(err),
                   "timeout": timeout}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, "the docs runner ended"
        return int(json.loads(answer)["rc"]), out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}


@pytest.fixture(scope="module")
def python_runner() -> Iterator[PythonRunner]:
    runner = PythonRunner(_env())
    yield runner
    runner.close()


def test_every_runnable_block_runs_or_says_why_not() -> None:
    """Each page's blocks are parsed; a mark names its reason, file or setup; a configuration block is a file."""
    problems = []
    for page in PAGES:
        for block in blocks(ROOT / page):
            where = f"{page}:{block.line}"
            problems += [f"{where}: a {kind} mark needs its {what}" for kind, what in
                         (("skip", "reason"), ("file", "file name"), ("setup", "setup name"))
                         if kind in block.marks and not block.marks[kind]]
            problems += [f"{where}: unknown setup {block.marks['setup']!r}"
                         for _ in [1] if block.marks.get("setup", "") not in ("", *SETUPS)]
            if block.lang not in ("python", "bash", "console") and not {"skip", "file"} & set(block.marks):
                problems.append(f"{where}: a {block.lang} block is written to a file for the blocks after it "
                                "(<!-- docs-test: file NAME -->), or skipped with its reason")
    assert not problems, "\n".join(problems)
    started = blocks(ROOT / "docs/getting-started.md")
    assert [b.expected is not None for b in started if "skip" not in b.marks].count(True) >= 3


# What a block needs that the page only describes (``<!-- docs-test: setup NAME -->``), run before it; the
# page's topic and broker are ``app-logs`` and ``127.0.0.1:9092`` here too.
SETUPS = {
    # the records docs/consume.md shows, as kafkalog stores them
    "billing-records": """
import json
from kafka import KafkaProducer

records = [
    {"type": "info", "action": "pay", "time": "2026-12-02T15:35:16.063000+00:00", "msg": "user alice paid",
     "fields": {"amount": 12.5}, "logger": "billing.api"},
    {"type": "warning", "action": "log", "time": "2026-12-02T15:35:16.063500+00:00", "msg": "slow response",
     "fields": {"ms": 1234}, "logger": "billing.api"},
    {"type": "error", "action": "log", "time": "2026-12-02T15:35:16.071000+00:00", "msg": "charge failed",
     "fields": {"order": "A-17"}, "logger": "billing.api",
     "exception": {"type": "KeyError", "message": "'card'", "stack": 'Traceback (most recent call last):\\n'
                   '  File "/srv/app/billing/api.py", line 14, in checkout\\n    {}["card"]\\nKeyError: \\'card\\''}},
]
producer = KafkaProducer(bootstrap_servers="127.0.0.1:9092")
for record in records:
    producer.send("app-logs", json.dumps(record).encode())
producer.flush()
producer.close()
""",
}


def _console(code: str) -> tuple[str, str]:
    """A console block as a script (its ``$ `` lines, stderr into stdout) and the output it shows."""
    commands, shown = [], []
    for line in code.splitlines():
        if line.startswith("$ "):
            commands.append(line[2:] + " 2>&1")
        else:
            shown.append(line)
    return "\n".join(commands) + "\n", "\n".join(shown) + "\n"


def run_page(page: str, adapt: Callable[[str], str], cwd: Path, python: PythonRunner) -> list[str]:
    """Runs the page's blocks in order; the failures, each with where it is, what it printed and what was shown."""
    (cwd / "examples").symlink_to(ROOT / "examples")
    runs: list[list[Block]] = []
    for block in blocks(ROOT / page):
        if "skip" in block.marks:
            continue
        if "file" in block.marks:
            (cwd / block.marks["file"]).write_text(adapt(block.code), encoding="utf-8")
        elif block.lang not in ("python", "bash", "console"):
            continue  # a configuration fragment: not a file of its own (the check above asks for a mark)
        elif "continue" in block.marks:
            assert runs and runs[-1][0].lang == "python", f"{page}:{block.line}: nothing to continue"
            runs[-1].append(block)
        else:
            runs.append([block])
    failures: list[str] = []
    for n, run in enumerate(runs):
        where = f"{page}:{run[0].line}"
        setup = run[0].marks.get("setup")
        if setup:
            script = cwd / f"setup-{n}.py"
            script.write_text(adapt(SETUPS[setup]), encoding="utf-8")
            rc, stdout, stderr = python.run(script, cwd)
            assert rc == 0, f"{where}: setup {setup!r} failed\n{stdout}\n{stderr}"
        if run[0].lang in ("bash", "console"):
            block = run[0]
            code, expected = _console(block.code) if block.lang == "console" else (block.code, block.expected)
            proc = subprocess.run(["bash", "-e", "-c", adapt(code)], capture_output=True, text=True,
                                  env=_env(), cwd=cwd, timeout=120, check=False)
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
            outputs = [(block, stdout, expected)]
        else:
            marker = "----- next docs block -----"
            script = cwd / f"block-{n}-line-{run[0].line}.py"
            script.write_text(f"\nprint({marker!r}, flush=True)\n".join(adapt(b.code) for b in run), encoding="utf-8")
            rc, stdout, stderr = python.run(script, cwd)
            outputs = [(b, out, b.expected) for b, out in zip(run, stdout.split(marker + "\n"), strict=True)]
        if rc != 0:
            failures.append(f"{where}: exit {rc}\nstdout:\n{stdout}\nstderr:\n{stderr[-3000:]}")
            continue
        for block, output, shown in outputs:
            if shown is None and block.lang == "bash":
                continue
            if not _same(output, adapt(shown or ""), varies="varies" in block.marks):
                failures.append(f"{page}:{block.line}: printed\n{output}\nthe page shows\n{shown or ''}"
                                f"\nstderr:\n{stderr[-3000:]}")
    return failures


@pytest.mark.parametrize("page", [page for page in PAGES if any("skip" not in b.marks for b in blocks(ROOT / page))])
def test_page_runs_as_written(page: str, kafka_bootstrap: str, make_topic, tmp_path: Path,
                              python_runner: PythonRunner) -> None:
    topic = make_topic(1)

    def adapt(code: str) -> str:
        for address in ADDRESSES:
            code = code.replace(address, kafka_bootstrap)
        return code.replace("app-logs", topic)

    failures = run_page(page, adapt, tmp_path, python_runner)
    assert not failures, "\n\n".join(failures)


def test_a_broken_snippet_fails_the_page(kafka_bootstrap: str, tmp_path: Path, python_runner: PythonRunner,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a page whose block raises, or prints other than it shows, is reported with its line."""
    page = tmp_path / "page.md"
    page.write_text("```python\nprint('one')\n# two\n```\n\n```python\nraise ValueError('broken')\n```\n\n"
                    "<!-- docs-test: skip (shown only) -->\n```bash\nfalse\n```\n\n"
                    "```console\n$ echo hi\nho\n```\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    failures = run_page("page.md", lambda code: code, work, python_runner)
    assert [f.split("\n")[0] for f in failures] == ["page.md:1: printed", "page.md:6: exit 1", "page.md:15: printed"]
    assert "ValueError: broken" in failures[1]
