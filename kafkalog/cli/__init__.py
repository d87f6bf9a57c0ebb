"""The ``kafkalog`` command: a thin layer of argument parsing over the library.

Each subcommand lives in its own module with two functions: ``register(subparsers)`` adds its parser (importing
nothing heavy, so ``kafkalog --help`` stays fast) and ``run(args) -> int`` does the work and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from .._suggest import suggest

# Subcommand names; each is a module of this package.
SUBCOMMANDS: tuple[str, ...] = ("check", "collect", "consume", "levels", "tail")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, naming the close choice after an invalid one (``kafkalog chek``, ``-o json``); the
    subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        invalid = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if invalid:
            choices = [choice.strip().strip("'") for choice in invalid.group(2).split(",")]
            message += suggest(invalid.group(1), choices)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``kafkalog`` parser; each subcommand's own parser is in ``subcommand_parser``."""
    parser = _Parser(prog="kafkalog", description="Ship log records to Kafka and read them back.")
    parser.add_argument("--version", action="version", version=f"kafkalog {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions if parser._subparsers is not None else ():
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ._flags import UsageError, close_flags

    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        if extras:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        parser.print_help(sys.stderr)
        return 2
    sub = subcommand_parser(parser, args.command)
    if extras:  # the subcommand's usage, not the top-level one, and the flag it looks like
        sub.error(f"unrecognized arguments: {' '.join(extras)}{close_flags(extras[0], sub)}")
    module = importlib.import_module(f"{__name__}.{args.command}")
    try:
        code: int = module.run(args)
    except UsageError as exc:
        sub.print_usage(sys.stderr)
        print(f"{sub.prog}: error: {exc}", file=sys.stderr)
        return 2
    return code
