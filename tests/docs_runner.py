"""Runs the python blocks of the docs for test_docs_snippets.py: one warm interpreter that forks a child per block.

A fresh interpreter per block would cost its start and imports (about a second on a busy machine) for each of
the docs' seventy-odd blocks. Here the imports are done once; each block runs in a forked child as a script
(``__main__``, with a file, so multiprocessing's spawn can import it) and ends as an interpreter ends: threads
joined, then the exit hooks (kafkalog's drain among them). No handler or thread exists before the fork.

Protocol: one JSON request a line on stdin (``script``, ``cwd``, ``stdout``, ``stderr``, ``timeout``), one JSON
answer a line on stdout (``rc``).
"""

from __future__ import annotations

import atexit
import builtins
import json

# what the docs' blocks import, loaded once before any fork
import logging
import logging.config  # noqa: F401
import os
import signal
import sys
import threading
import traceback
import types

import kafka  # noqa: F401
import loguru  # noqa: F401
import structlog  # noqa: F401

import kafkalog
import kafkalog.transports  # noqa: F401


def _run_child(request: dict[str, object]) -> None:
    """The forked child: runs one script and leaves with os._exit, never returning to the loop."""
    code = 1
    try:
        signal.alarm(int(request["timeout"]))  # type: ignore[call-overload]  # a hung block ends, killed
        os.chdir(str(request["cwd"]))
        null = os.open(os.devnull, os.O_RDONLY)  # stdin is the requests' pipe: not for the block's children
        os.dup2(null, 0)
        os.close(null)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(str(request[name]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(target, fd)
            os.close(target)
        path = str(request["script"])
        main = types.ModuleType("__main__")
        main.__file__ = path
        main.__builtins__ = builtins  # type: ignore[attr-defined]
        sys.modules["__main__"] = main
        sys.argv = [path]
        sys.path[0] = os.path.dirname(path)
        with open(path, encoding="utf-8") as f:
            compiled = compile(f.read(), path, "exec")
        try:
            exec(compiled, main.__dict__)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter does at exit, in its order
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_child(request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
