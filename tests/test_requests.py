"""The request ledger and request IDs: the utterance rules on their own."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from avatarwire.core.errors import LocalProtocolError
from avatarwire.core.request_ids import format_request_id, official_request_ids
from avatarwire.core.requests import RequestLedger


def test_official_ids_have_the_sdk_format() -> None:
    when = datetime(2023, 12, 15, 14, 30, 22, tzinfo=timezone.utc)
    new_id = official_request_ids(lambda: when, lambda n: bytes(range(n)))
    req_id = new_id()
    assert re.fullmatch(r"20231215143022_[A-Za-z0-9_-]{12}", req_id)
    assert req_id == "20231215143022_ABCDEFGHIJKL"


def test_the_timestamp_is_utc_whatever_zone_the_clock_gives() -> None:
    tokyo = timezone(timedelta(hours=9))
    when = datetime(2023, 12, 15, 23, 30, 22, tzinfo=tokyo)
    assert format_request_id(when, b"\x00" * 12).startswith("20231215143022_")


@pytest.mark.parametrize(
    ("when", "entropy"),
    [(datetime(2023, 1, 1), b"\x00" * 12), (datetime(2023, 1, 1, tzinfo=timezone.utc), b"x")],
)
def test_naive_time_or_short_entropy_is_refused(when: datetime, entropy: bytes) -> None:
    with pytest.raises(ValueError):
        format_request_id(when, entropy)


def test_a_factory_that_repeats_an_id_is_refused() -> None:
    ledger = RequestLedger(lambda: "same", bytes_per_second=32000)
    first = ledger.open_or_start()
    ledger.record_sent(first, 2, end=True)
    with pytest.raises(LocalProtocolError, match="already used"):
        ledger.open_or_start()


def test_history_is_bounded_but_unfinished_requests_are_kept() -> None:
    ids = iter(f"r{n}" for n in range(100))
    ledger = RequestLedger(lambda: next(ids), bytes_per_second=None, max_history=3)
    stuck = ledger.open_or_start()
    ledger.record_sent(stuck, 2, end=True)
    for _ in range(5):
        status = ledger.open_or_start()
        ledger.record_sent(status, 2, end=True)
        ledger.finish(status.req_id, interrupted=False)
    kept = [status.req_id for status in ledger]
    assert kept[0] == stuck.req_id  # the oldest is unfinished: not forgotten
    assert ledger.unfinished() == [stuck.req_id]
    assert ledger.get(stuck.req_id) is stuck
    assert stuck.audio_seconds is None  # Ogg Opus: bytes say nothing of seconds
    ledger.finish(stuck.req_id, interrupted=True)
    ledger.record_sent(ledger.open_or_start(), 2, end=True)
    assert len(list(ledger)) <= 3
    assert ledger.get(stuck.req_id) is None


def test_finishing_an_unknown_or_finished_request_reports_nothing() -> None:
    ledger = RequestLedger(iter(["a", "b"]).__next__, bytes_per_second=32000)
    assert ledger.finish("", interrupted=False) is None
    status = ledger.open_or_start()
    assert ledger.finish("nope", interrupted=False) is None
    assert ledger.finish("a", interrupted=False) is status
    assert ledger.finish("a", interrupted=False) is None


def test_current_is_the_open_request_until_end_or_interrupt() -> None:
    ids = iter(["a", "b", "c"])
    ledger = RequestLedger(lambda: next(ids), bytes_per_second=32000)
    assert ledger.current is None
    first = ledger.open_or_start()
    assert ledger.current is first
    ledger.record_sent(first, 2, end=True)
    assert ledger.current is None
    second = ledger.open_or_start()
    assert ledger.current is second and second.req_id == "b"
    ledger.interrupt_target()
    assert ledger.current is None and ledger.latest is second
