"""One vocabulary for every command that talks to Kafka (docs/cli.md): the same flags, old spellings kept as
hidden aliases, each subcommand's own usage on its errors, flags spelled as typed in messages."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kafkalog.cli import build_parser, main
from kafkalog.cli._flags import UsageError, security_options
from kafkalog.tail._command import _missing
from kafkalog.tail._config import make_input

COMMANDS = ("check", "consume", "tail")


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("servers", ["-b", "--bootstrap-servers", "--bootstrap-server"])
@pytest.mark.parametrize("topic", ["-t", "--topic"])
def test_servers_and_topic_are_spelled_alike(command: str, servers: str, topic: str) -> None:
    args = _parse(command, servers, "h:1", topic, "logs")
    assert (args.bootstrap_servers, args.topic) == ("h:1", "logs")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("flags", "option", "value"), [
    (("--ssl-ca-file", "--ssl-cafile"), "ssl_ca_file", "ca.pem"),
    (("--ssl-cert-file", "--ssl-certfile"), "ssl_cert_file", "cert.pem"),
    (("--ssl-key-file", "--ssl-keyfile"), "ssl_key_file", "key.pem"),
    (("--transport", "--client"), "transport", "confluent"),
    (("--security-protocol",), "security_protocol", "SASL_SSL"),
    (("--sasl-mechanism",), "sasl_mechanism", "PLAIN"),
    (("--sasl-mechanism",), "sasl_mechanism", "scram-sha-256"),  # any case, as the library takes it
    (("--sasl-username",), "sasl_username", "alice"),
])
def test_each_flag_and_its_old_spelling_set_the_same_option(command: str, flags: tuple[str, ...], option: str,
                                                            value: str) -> None:
    expected = value.upper() if option.startswith(("sasl_m", "security")) else value
    for flag in flags:
        assert getattr(_parse(command, "-b", "h:1", "-t", "t", flag, value), option) == expected


@pytest.mark.parametrize("command", COMMANDS)
def test_old_spellings_are_hidden_from_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(command, "--help")
    shown = capsys.readouterr().out
    assert "--ssl-ca-file" in shown and "--sasl-password-env" in shown and "--transport" in shown
    assert "--ssl-cafile" not in shown and "--client " not in shown


def test_password_from_the_default_variable_when_a_username_is_given() -> None:
    env = {"KAFKALOG_SASL_PASSWORD": "pw", "KAFKALOG_SSL_KEY_PASSWORD": "kpw", "MINE": "mine"}
    base = ("consume", "-b", "h:1", "-t", "t")
    assert security_options(_parse(*base), env) == {}  # nothing asked for: the variables are not read
    assert security_options(_parse(*base, "--sasl-username", "u"), env) == {"sasl_username": "u",
                                                                            "sasl_password": "pw"}
    assert security_options(_parse(*base, "--sasl-username", "u", "--sasl-password-env", "MINE"), env)[
        "sasl_password"] == "mine"
    assert security_options(_parse(*base, "--ssl-key-file", "k.pem"), env)["ssl_key_password"] == "kpw"
    with pytest.raises(UsageError, match=r"--sasl-password-env: \$NOPE is not set"):
        security_options(_parse(*base, "--sasl-password-env", "NOPE"), env)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_misspelt_flag_shows_the_subcommands_usage_and_the_close_flag(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "-b", "h:1", "-t", "t", "--topik", "x"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: kafkalog {command} ")
    assert "unrecognized arguments: --topik" in err and "(did you mean --topic?)" in err


def test_an_unset_password_variable_shows_the_usage(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKALOG_NO_SUCH_VAR", raising=False)
    assert main(["consume", "-b", "h:1", "-t", "t", "--sasl-password-env", "KAFKALOG_NO_SUCH_VAR"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kafkalog consume ")
    assert "kafkalog consume: error: --sasl-password-env: $KAFKALOG_NO_SUCH_VAR is not set" in err


def test_tail_names_the_flag_as_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tail", "-b", "h:1", "-t", "t", "--state-dir", str(tmp_path), "--multiline-start", "(",
                 str(tmp_path / "app.log")])
    assert code == 2
    err = capsys.readouterr().err
    assert "kafkalog tail: --multiline-start: '(' is not a valid regular expression" in err


def test_security_errors_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "no-ca.pem")
    assert main(["consume", "-b", "h:1", "-t", "t", "--security-protocol", "SSL", "--ssl-cafile", missing]) == 2
    assert f"kafkalog consume: --ssl-ca-file: {missing!r} is not a readable file" in capsys.readouterr().err


def test_an_input_that_does_not_exist_yet_is_named(tmp_path: Path) -> None:
    (tmp_path / "here.log").write_text("")
    inputs = [make_input({"paths": [str(tmp_path / "here.log"), str(tmp_path / "later.log"),
                                    str(tmp_path / "*.txt")]})]
    assert _missing(inputs) == (f"{str(tmp_path / 'later.log')!r} does not exist yet; it is followed once it "
                                f"appears",
                                f"{str(tmp_path / '*.txt')!r} matches no file yet; it is followed once it appears")


def test_tail_security_flags_override_the_config_files_options(tmp_path: Path) -> None:
    from kafkalog.tail._command import TailRequest, _shipper

    request = TailRequest(bootstrap_servers="h:1", topic="t", state_dir=str(tmp_path), transport="kafka-python",
                          client_options={"sasl_username": "from-flag"})
    assert _shipper(request, {"sasl_username": "from-file", "compression": "gzip"}) == {
        "close_timeout": 10.0, "sasl_username": "from-flag", "compression": "gzip", "transport": "kafka-python"}


@pytest.mark.parametrize(("argv", "code", "expected"), [
    (["check", "--transport", "confluent", "-X", "lingr.ms=5"], 3,
     "unknown librdkafka option 'lingr.ms' (did you mean 'linger.ms'?)"),
    (["check", "--transport", "kafka-python", "-X", "linger.ms=5"], 3,
     "unknown kafka-python option(s) ['linger.ms'] (did you mean 'linger_ms'?)"),
    (["consume", "--transport", "confluent", "-X", "fetch.wait.mx.ms=5"], 2,
     "unknown librdkafka option 'fetch.wait.mx.ms' (did you mean 'fetch.wait.max.ms'?)"),
    (["consume", "--transport", "kafka-python", "-X", "fetch_max_wait=5"], 2,
     "unknown kafka-python option(s) ['fetch_max_wait'] (did you mean 'fetch_max_wait_ms'?)"),
])
def test_a_misspelt_client_option_names_the_close_one_before_connecting(
        argv: list[str], code: int, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """-X names are the client's own: a slip is reported at once with librdkafka's or kafka-python's closest name
    (the address is a closed port: nothing is tried before the options are checked)."""
    pytest.importorskip("confluent_kafka")
    assert main([argv[0], "-b", "127.0.0.1:9", "-t", "t", *argv[1:]]) == code
    out, err = capsys.readouterr()
    assert expected in out + err


@pytest.mark.parametrize(("argv", "expected"), [
    (["chek", "-b", "h:1"], "invalid choice: 'chek' (choose from "),
    (["consume", "-b", "h:1", "-t", "t", "-o", "json"], "invalid choice: 'json' (choose from "),
    (["check", "--transport", "confluen"], "invalid choice: 'confluen' (choose from "),
])
def test_an_invalid_choice_names_the_close_one(argv: list[str], expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt subcommand or choice: argparse's message, then the choice it looks like."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    close = {"chek": "check", "json": "ndjson", "confluen": "confluent"}[argv[-1] if argv[0] != "chek" else "chek"]
    assert expected in err and err.rstrip().endswith(f"(did you mean {close!r}?)")
