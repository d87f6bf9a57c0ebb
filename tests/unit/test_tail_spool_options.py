"""Spool options of `kafkalog tail` need --spool: given without it they stop the agent at start (exit 2) naming
the option, before anything is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkalog.cli import main


@pytest.mark.parametrize(("extra", "named"), [
    (["--fsync"], "--fsync"),
    (["--spool-max-bytes", "4194304"], "--spool-max-bytes"),
    (["--config", "CONFIG"], "kafkalog.spool_segment_bytes"),
])
def test_spool_options_without_spool_exit_2(extra: list[str], named: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tail.toml"
    config.write_text("[kafkalog]\nspool_segment_bytes = 1048576\n")
    args = ["tail", "--bootstrap-servers", "127.0.0.1:9", "--topic", "logs", "--state-dir", str(tmp_path / "state"),
            *[str(config) if a == "CONFIG" else a for a in extra], str(tmp_path / "app.log")]
    assert main(args) == 2
    assert f"{named}: applies to the disk spool only; add --spool" in capsys.readouterr().err
