"""kafkalog tail: file identity, saved offsets and the inputs file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kafkalog.tail import StateDirInUse, TailConfigError, load_settings
from kafkalog.tail._identity import FINGERPRINT_BYTES, key_of, same_content, take_fingerprint
from kafkalog.tail._offsets import Offset, OffsetStore


class TestIdentity:
    def test_fingerprint_tells_a_reused_inode_from_the_old_file(self, tmp_path: Path) -> None:
        """Same device and inode but other first bytes: not the same file."""
        path = tmp_path / "a.log"
        path.write_bytes(b"old file first line\n")
        fd = os.open(path, os.O_RDONLY)
        try:
            old = take_fingerprint(fd, os.fstat(fd).st_size)
            path.write_bytes(b"new file, other text\n")  # same inode, new content
            assert not same_content(fd, old)
        finally:
            os.close(fd)

    def test_growing_file_still_matches(self, tmp_path: Path) -> None:
        path = tmp_path / "a.log"
        path.write_bytes(b"x" * 10)
        fd = os.open(path, os.O_RDONLY)
        try:
            fp = take_fingerprint(fd, 10)
            with open(path, "ab") as f:
                f.write(b"y" * 5000)
            assert same_content(fd, fp)
            assert take_fingerprint(fd, 5010).length == FINGERPRINT_BYTES
            assert key_of(os.fstat(fd)) == key_of(os.stat(path))
        finally:
            os.close(fd)


class TestOffsetStore:
    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        store = OffsetStore(str(tmp_path / "state"))
        entry = Offset(path="/a", dev=1, ino=2, fp_len=3, fp="ab", offset=40, line=5, seen=__import__("time").time())
        store.save([entry])
        assert store.load() == {entry.key: entry}
        assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path / "state"))
        store.close()

    def test_second_agent_cannot_share_the_state_dir(self, tmp_path: Path) -> None:
        store = OffsetStore(str(tmp_path / "state"))
        with pytest.raises(StateDirInUse):
            OffsetStore(str(tmp_path / "state"))
        store.close()
        OffsetStore(str(tmp_path / "state")).close()


class TestInputsFile:
    def write(self, tmp_path: Path, text: str) -> str:
        path = tmp_path / "tail.toml"
        path.write_text(text)
        return str(path)

    def test_inputs_are_read(self, tmp_path: Path) -> None:
        settings = load_settings(self.write(tmp_path, """
[kafkalog]
linger = 0.01

[[inputs]]
paths = ["/var/log/app/*.log"]
topic = "app"
format = "json"
multiline_start = '^\\d{4}-'
static_fields = {service = "billing"}
"""))
        (source,) = settings.inputs
        assert source.topic == "app" and source.format == "json" and source.multiline_start is not None
        assert source.static_fields == {"service": "billing"} and settings.shipper == {"linger": 0.01}

    @pytest.mark.parametrize(("body", "expected"), [
        ('[[inputs]]\npaths = ["/a"]\n\n[[inputs]]\npaths = ["/b"]\ntopick = "x"\n', r"inputs\[1\]\.topick \(line 6\)"),
        ('[[inputs]]\npaths = ["/a"]\nmultiline_start = "(unclosed"\n', r"multiline_start \(line 3\).*regular"),
        ('[[inputs]]\npaths = ["/a/[x.log"]\n', r"paths \(line 2\).*glob"),
        ('color = 1\n[[inputs]]\npaths = ["/a"]\n', r"color \(line 1\): unknown key"),
        ('[kafkalog]\nspool_dir = "/x"\n', r"kafkalog\.spool_dir \(line 2\)"),
        ('[[inputs]]\npaths = ["/a"]\nformat = "xml"\n', r"format \(line 3\)"),
    ])
    def test_bad_key_or_pattern_names_it_and_its_line(self, tmp_path: Path, body: str, expected: str) -> None:
        with pytest.raises(TailConfigError, match=expected):
            load_settings(self.write(tmp_path, body))

    def test_example_config_loads(self) -> None:
        """examples/tail.toml stays valid."""
        settings = load_settings(str(Path(__file__).resolve().parents[2] / "examples" / "tail.toml"))
        assert [i.topic for i in settings.inputs] == ["billing-logs", "api-logs", "nginx-access"]
