"""The collector's per-client fair share of its queue: the rule alone, then through a live collector."""

from __future__ import annotations

import time
from pathlib import Path

from kafkalog import KafkaLogConfig
from kafkalog.collector import Collector, ListenSettings
from kafkalog.collector._share import FairShare
from kafkalog.transports import MemoryTransport
from kafkalog.transports.collector import CollectorTransport, query_stats
from kafkalog.typing import Message

NOISY, QUIET, OTHER = b"noisy", b"quiet", b"other"


def _share(*owners: bytes, records: int = 1000) -> FairShare:
    share = FairShare(records, 10**9)
    for owner in owners:
        share.connected(owner)
    return share


class TestRule:
    def test_alone_a_client_may_fill_the_whole_queue(self) -> None:
        share = _share(NOISY)
        queued = 0
        for _ in range(10):
            assert share.refusal(NOISY, 100, 100, queued, queued, now=0.0) == ""
            share.taken(NOISY, queued + 100, 100, 100)
            queued += 100
        assert share.held(NOISY) == (1000, 1000)

    def test_a_noisy_client_leaves_room_for_each_active_one(self) -> None:
        """With three active clients, the noisy one stops at a third while the queue has room; the quiet ones
        still get in up to their own share."""
        share = _share(NOISY, QUIET, OTHER)
        for owner in (QUIET, OTHER):  # both have sent lately
            assert share.refusal(owner, 1, 1, 0, 0, now=0.0) == ""
            share.taken(owner, 1 if owner == QUIET else 2, 1, 1)
        queued = 2
        taken = 0
        while queued < 1000 and not share.refusal(NOISY, 50, 50, queued, queued, now=1.0):
            share.taken(NOISY, queued + 50, 50, 50)
            queued += 50
            taken += 50
        assert 300 <= taken <= 350, taken  # its third, and no more than the others' unused shares allow
        assert share.refusal(NOISY, 50, 50, queued, queued, now=1.0).startswith("over its share")
        for owner in (QUIET, OTHER):
            assert share.refusal(owner, 300, 300, queued, queued, now=1.0) == ""
            share.taken(owner, queued + 300, 300, 300)
            queued += 300

    def test_records_that_left_the_queue_no_longer_count(self) -> None:
        share = _share(NOISY, QUIET)
        share.refusal(QUIET, 1, 1, 0, 0, now=0.0)
        share.taken(QUIET, 1, 1, 1)
        share.refusal(NOISY, 600, 600, 1, 1, now=0.0)
        share.taken(NOISY, 601, 600, 600)
        assert share.refusal(NOISY, 100, 100, 601, 601, now=0.0)  # 700 of a 500 share, room kept for QUIET
        share.release(601)  # the sender took them all
        assert share.held(NOISY) == (0, 0)
        assert share.refusal(NOISY, 100, 100, 0, 0, now=0.0) == ""

    def test_idle_and_gone_clients_keep_no_room(self) -> None:
        share = _share(NOISY, QUIET)
        share.refusal(QUIET, 1, 1, 0, 0, now=0.0)
        share.taken(QUIET, 1, 1, 1)
        share.release(1)
        share.refusal(NOISY, 500, 500, 0, 0, now=100.0)
        share.taken(NOISY, 501, 500, 500)
        # QUIET sent nothing for longer than the window: NOISY may take the whole queue
        assert share.refusal(NOISY, 500, 500, 500, 500, now=100.0) == ""
        share.refusal(QUIET, 1, 1, 500, 500, now=100.0)
        share.disconnected(QUIET)  # active a moment ago, but gone: no room kept for it either
        assert share.refusal(NOISY, 400, 400, 500, 500, now=100.0) == ""

    def test_a_client_holding_nothing_may_always_put_one_batch(self) -> None:
        """A batch bigger than the share still goes in when the client holds nothing (else it never could)."""
        share = _share(NOISY, QUIET, OTHER)
        for n, owner in enumerate((QUIET, OTHER), 1):
            share.refusal(owner, 1, 1, 0, 0, now=0.0)
            share.taken(owner, n, 1, 1)
        assert share.refusal(NOISY, 900, 900, 2, 2, now=0.0) == ""


def test_a_flooding_client_is_answered_busy_while_a_quiet_one_gets_in(tmp_path: Path) -> None:
    """A collector whose shipping is stuck (a 30 s send): the flooder fills its share and is answered busy
    (counted as over_share), while a quiet client that sends afterwards is still acknowledged."""
    path = str(tmp_path / "c.sock")
    stuck = MemoryTransport(delay=30.0)
    collector = Collector(KafkaLogConfig(bootstrap_servers="127.0.0.1:1", topic="unused", transport=stuck,
                                         queue_max_records=1000, batch_max_records=10, linger=0),
                          ListenSettings(path))
    collector.start()
    try:
        quiet = CollectorTransport(path, name="quiet")
        assert quiet.send([Message("t", None, b"q0", 0)], 5.0) == [None]
        noisy = CollectorTransport(path, name="noisy")
        outcome: list[BaseException | None] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            outcome = noisy.send([Message("t", None, b"n", 0)] * 100, 5.0)
            if outcome[0] is not None:
                break
        assert all(getattr(r, "reason", "") == "collector_busy" for r in outcome), outcome
        assert "over its share" in str(outcome[0])
        for n in range(1, 5):  # the quiet client still gets in: the flooder left room for it
            assert quiet.send([Message("t", None, b"q%d" % n, 0)] * 50, 5.0) == [None] * 50
        stats = query_stats(path)
        by_name = {c["name"]: c for c in stats["clients"]}
        assert by_name["noisy"]["over_share"] >= 1 and by_name["quiet"]["over_share"] == 0, stats
        assert by_name["quiet"]["records"] == 201 and stats["over_share"] >= 1, stats
        assert by_name["noisy"]["queued"] <= 600, stats
        quiet.close(1.0)
        noisy.close(1.0)
    finally:
        collector.close(0.5)
