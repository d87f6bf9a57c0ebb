"""The flags every command that talks to Kafka shares, defined once so each command spells them alike.

``add_connection`` adds servers, topic and transport; ``add_security`` the security flags, named after the
options of :class:`~kafkalog.KafkaLogConfig` (one table: ``kafkalog._client_options``); ``security_options``
turns them back into those options, reading passwords from the environment (never from the command line, where
``ps`` shows them). Old spellings stay accepted, hidden from ``--help``. docs/cli.md states the vocabulary.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from .._client_options import PROTOCOLS, SASL_MECHANISMS, SECURITY_OPTIONS

SASL_PASSWORD_ENV = "KAFKALOG_SASL_PASSWORD"
SSL_KEY_PASSWORD_ENV = "KAFKALOG_SSL_KEY_PASSWORD"
TRANSPORTS = ("auto", "kafka-python", "confluent")
SERVERS_METAVAR = "HOST:PORT[,HOST:PORT]"

# (dest, flag, the environment variable read by default, the option whose flag turns that default on)
_PASSWORDS = (("sasl_password_env", "--sasl-password-env", SASL_PASSWORD_ENV, "sasl_username"),
              ("ssl_key_password_env", "--ssl-key-password-env", SSL_KEY_PASSWORD_ENV, "ssl_key_file"))
# hidden spellings of earlier releases: alias -> the flag it stands for
ALIASES = {"--ssl-cafile": "--ssl-ca-file", "--ssl-certfile": "--ssl-cert-file", "--ssl-keyfile": "--ssl-key-file",
           "--client": "--transport"}


class UsageError(Exception):
    """A bad command line found after parsing: the command's usage is printed with it and the exit code is 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``-b, --bootstrap-servers HOST:PORT`` in ``--help`` (the value named once, Kafka's spelling left out)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        value = self._format_args(action, self._get_default_metavar_for_optional(action))
        return ", ".join(s for s in action.option_strings if s != "--bootstrap-server") + f" {value}"


def flag_of(option: str) -> str:
    """``ssl_ca_file`` -> ``--ssl-ca-file``: how the command line spells an option."""
    return "--" + option.replace("_", "-")


def _hidden(parser: Any, flag: str, dest: str, **kwargs: Any) -> None:
    parser.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def add_connection(parser: argparse.ArgumentParser, *, servers_required: bool = True, topic_required: bool = True,
                   topic_help: str | None = None, transports: Sequence[str] = TRANSPORTS,
                   transport_default: str | None = "auto", transport_help: str | None = None) -> None:
    """``-b/--bootstrap-servers`` (Kafka's own ``--bootstrap-server`` too), ``-t/--topic`` and ``--transport``
    (``--client`` too)."""
    parser.formatter_class = HelpFormatter
    parser.add_argument("-b", "--bootstrap-servers", "--bootstrap-server", dest="bootstrap_servers",
                        required=servers_required, metavar=SERVERS_METAVAR,
                        help="the brokers to connect to first")
    parser.add_argument("-t", "--topic", required=topic_required, help=topic_help)
    parser.add_argument("--transport", choices=transports, default=transport_default,
                        help=transport_help or "the Kafka client: kafka-python or confluent")
    _hidden(parser, "--client", "transport", choices=transports)


def add_security(parser: argparse.ArgumentParser) -> None:
    """The security flags, in a group of their own: KafkaLogConfig's option names, passwords from variables."""
    group = parser.add_argument_group(
        "security", "the KafkaHandler options of the same names (docs/configuration.md); passwords are read from "
                    "environment variables, never from the command line")
    group.add_argument("--security-protocol", choices=PROTOCOLS, type=str.upper)
    group.add_argument("--sasl-mechanism", choices=SASL_MECHANISMS, type=str.upper)
    group.add_argument("--sasl-username", metavar="NAME")
    group.add_argument("--sasl-password-env", metavar="VAR",
                       help=f"read the SASL password from this variable (default: ${SASL_PASSWORD_ENV}, read when "
                            f"--sasl-username is given)")
    group.add_argument("--ssl-ca-file", metavar="PEM", help="CA certificates to trust")
    group.add_argument("--ssl-cert-file", metavar="PEM", help="client certificate (mutual TLS)")
    group.add_argument("--ssl-key-file", metavar="PEM", help="client private key (mutual TLS)")
    group.add_argument("--ssl-key-password-env", metavar="VAR",
                       help=f"read the key's password from this variable (default: ${SSL_KEY_PASSWORD_ENV}, read "
                            f"when --ssl-key-file is given)")
    for alias, flag in ALIASES.items():
        if flag.startswith("--ssl"):
            _hidden(group, alias, flag[2:].replace("-", "_"), metavar="PEM")


def security_options(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The security flags given, as KafkaLogConfig options (``ssl_ca_file``...), passwords from ``environ``.

    A variable named by ``--sasl-password-env`` must be set; the default one is read only when the flag that
    needs it (``--sasl-username``, ``--ssl-key-file``) is given, and an empty one counts as not set."""
    options = {name: getattr(args, name) for name in SECURITY_OPTIONS
               if getattr(args, name, None) is not None}
    for dest, flag, default, needed_by in _PASSWORDS:
        named = getattr(args, dest, None)
        if named is not None and named not in environ:
            raise UsageError(f"{flag}: ${named} is not set")
        value = environ.get(named or default)
        if value and (named is not None or needed_by in options):
            options[dest.removesuffix("_env")] = value
    return options


def close_flags(given: str, parser: argparse.ArgumentParser) -> str:
    """`` (did you mean --topic?)`` when ``given`` (an unknown flag, maybe ``--x=1``) is close to a real one."""
    name = given.split("=", 1)[0]
    known = [s for s in parser._option_string_actions if s.startswith("--")]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def spelled(message: str, options: Sequence[str] = SECURITY_OPTIONS) -> str:
    """A library message that starts with an option's name (``ssl_ca_file: ...``), starting with its flag instead
    (``--ssl-ca-file: ...``): the user typed the flag."""
    name, sep, rest = message.partition(": ")
    return f"{flag_of(name)}: {rest}" if sep and name in options else message
