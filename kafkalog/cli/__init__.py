"""The ``kafkalog`` command: a thin layer of argument parsing over the library.

Each subcommand lives in its own module with two functions: ``register(subparsers)`` adds its parser (importing
nothing heavy, so ``kafkalog --help`` stays fast) and ``run(args) -> int`` does the work and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__

# Subcommand names; each is a module of this package.
SUBCOMMANDS: tuple[str, ...] = ("check", "collect", "consume", "tail")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkalog", description="Ship log records to Kafka and read them back.")
    parser.add_argument("--version", action="version", version=f"kafkalog {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"{__name__}.{args.command}")
    code: int = module.run(args)
    return code
