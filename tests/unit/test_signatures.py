"""The constructors of KafkaHandler, KafkaSink and KafkaProcessor take every option of KafkaLogConfig, typed once in
kafkalog.options.KafkaOptions (``**options: Unpack[KafkaOptions]``, for editors and mypy); their run-time signature
lists each with its type and default; a misspelt option is named with the closest one."""

from __future__ import annotations

import inspect
import logging.config
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest

from kafkalog import ConfigTypeError, KafkaHandler, KafkaLogConfig, KafkaProcessor, KafkaSink
from kafkalog._signature import EMPTY
from kafkalog.options import KafkaOptions

CLASSES = (KafkaHandler, KafkaSink, KafkaProcessor)
OWN = {KafkaHandler: ("level", "config"), KafkaSink: ("config",), KafkaProcessor: ("level", "passthrough", "config")}
B = "127.0.0.1:9"


def test_kafka_options_is_every_option_of_the_config_with_its_type() -> None:
    """The one list of options: KafkaLogConfig's fields after bootstrap_servers and topic, same order, same types."""
    options = [f for f in fields(KafkaLogConfig) if f.init][2:]
    typed = [(name, getattr(hint, "__forward_arg__", hint)) for name, hint in KafkaOptions.__annotations__.items()]
    assert typed == [(f.name, f.type) for f in options]
    assert not KafkaOptions.__required_keys__


@pytest.mark.parametrize("cls", CLASSES)
def test_the_written_signature_takes_the_options_as_kafka_options(cls: type) -> None:
    """What type checkers and editors read: the constructor's own parameters, then ``**options: Unpack[...]``."""
    written = list(inspect.signature(inspect.unwrap(cls.__init__)).parameters.values())
    assert [p.name for p in written] == ["self", "bootstrap_servers", "topic", *OWN[cls], "options"]
    assert (written[-1].kind, written[-1].annotation) == (inspect.Parameter.VAR_KEYWORD, "Unpack[KafkaOptions]")


@pytest.mark.parametrize("cls", CLASSES)
def test_every_option_is_a_keyword_parameter_with_the_configs_type_and_default(cls: type) -> None:
    parameters = inspect.signature(cls).parameters
    options = [f for f in fields(KafkaLogConfig) if f.init]
    assert list(parameters) == ["bootstrap_servers", "topic", *OWN[cls], *[f.name for f in options[2:]]]
    assert [p.kind for p in parameters.values()][:2] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2
    for f in options[2:]:
        parameter = parameters[f.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, f.name
        assert parameter.annotation == f.type, f.name
        assert parameter.default == (f.default if f.default is not MISSING else EMPTY), f.name
    for name, field_name in (("bootstrap_servers", "bootstrap_servers"), ("topic", "topic")):
        config_type = next(f.type for f in options if f.name == field_name)
        optional = config_type if config_type.endswith("| None") else f"{config_type} | None"
        assert parameters[name].annotation == optional


@pytest.mark.parametrize("cls", CLASSES)
def test_options_given_by_keyword_reach_the_config(cls: Any) -> None:
    sink = cls(B, "t", linger=0.2, static_fields={"service": "x"}, producer_config={"client_id": "c"})
    try:
        assert (sink.config.linger, sink.config.static_fields, sink.config.producer_config["client_id"]) == (
            0.2, {"service": "x"}, "c")
        assert sink.config.queue_max_records == KafkaLogConfig(bootstrap_servers=B, topic="t").queue_max_records
    finally:
        sink.close(0)


@pytest.mark.parametrize("cls", CLASSES)
def test_config_and_options_together_are_refused(cls: Any) -> None:
    config = KafkaLogConfig(bootstrap_servers=B, topic="t")
    with pytest.raises(ConfigTypeError, match="either config= or the individual options"):
        cls(config=config, linger=0.2)


@pytest.mark.parametrize("cls", CLASSES)
def test_unknown_option_is_named_before_a_missing_one(cls: Any) -> None:
    with pytest.raises(ConfigTypeError, match=r"^topik: unknown option of \w+ \(did you mean 'topic'\?\)"):
        cls(B, topik="t")
    with pytest.raises(ConfigTypeError, match=r"^bootstrap_server: .*\(did you mean 'bootstrap_servers'\?\)"):
        cls(bootstrap_server=B, topic="t")


@pytest.mark.parametrize("cls", CLASSES)
def test_the_missing_option_is_named(cls: Any) -> None:
    with pytest.raises(ConfigTypeError, match=r"^topic is required \(e.g. topic='app-logs'\)$"):
        cls(B)
    with pytest.raises(ConfigTypeError, match=r"^bootstrap_servers is required"):
        cls(topic="t")
    with pytest.raises(ConfigTypeError, match=r"^bootstrap_servers and topic are required"):
        cls()


@pytest.mark.parametrize("name", ["level", "format", "serialize", "enqueue", "filter", "colorize", "backtrace"])
def test_loguru_options_given_to_the_sink_say_they_belong_to_logger_add(name: str) -> None:
    with pytest.raises(ConfigTypeError, match=rf"^{name}: an option of loguru's logger.add"):
        KafkaSink(B, "t", **{name: True})


def test_dictconfig_names_the_unknown_key(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"version": 1, "handlers": {"kafka": {"class": "kafkalog.KafkaHandler", "bootstrap_server": B,
                                                   "topic": "t"}}}
    with pytest.raises(ValueError, match="Unable to configure handler 'kafka'") as info:
        logging.config.dictConfig(config)
    assert "bootstrap_server: unknown option of KafkaHandler (did you mean 'bootstrap_servers'?)" in str(
        info.value.__cause__)


def test_fileconfig_names_the_unknown_key(tmp_path: Path) -> None:
    ini = tmp_path / "logging.ini"
    ini.write_text(f"""[loggers]\nkeys=root\n[handlers]\nkeys=kafka\n[formatters]\nkeys=\n
[logger_root]\nlevel=INFO\nhandlers=kafka\n
[handler_kafka]\nclass=kafkalog.KafkaHandler\nargs=('{B}', 'app-logs')\nkwargs={{'lingr': 0.1}}\n""")
    with pytest.raises(ConfigTypeError, match=r"lingr: unknown option of KafkaHandler \(did you mean 'linger'\?\)"):
        logging.config.fileConfig(ini, disable_existing_loggers=False)


def test_mypy_flags_a_misspelt_option_in_user_code(tmp_path: Path) -> None:
    pytest.importorskip("mypy")  # a dev tool: the other Pythons' venvs (the `unit` extra) run without it
    user = tmp_path / "user.py"
    user.write_text("import kafkalog\n"
                    "ok = kafkalog.KafkaHandler('127.0.0.1:9092', 'app-logs', linger=0.1)\n"
                    "bad = kafkalog.KafkaHandler('127.0.0.1:9092', 'app-logs', lingr=0.1)\n"
                    "sink = kafkalog.KafkaSink('127.0.0.1:9092', 'app-logs', overflow='drop_sometimes')\n"
                    "proc = kafkalog.KafkaProcessor('127.0.0.1:9092', 'app-logs', retry_backof=1.0)\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(user)],  # the cache of `make lint`
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 3, result.stdout
    assert 'user.py:3: error: Unexpected keyword argument "lingr" for "KafkaHandler"; did you mean "linger"?' \
        in result.stdout
    assert 'user.py:4: error: Argument "overflow" to "KafkaSink" has incompatible type' in result.stdout
    assert 'user.py:5: error: Unexpected keyword argument "retry_backof" for "KafkaProcessor"' in result.stdout
