"""The one token bucket: notify waits for its tokens, the emulator refuses when there are none."""

from __future__ import annotations

import pytest

from cityhall.line.ratelimit import LINE_RATE_LIMITS, RateLimit, TokenBucket


def test_take_allows_the_whole_count_then_refuses_until_the_bucket_refills() -> None:
    now = [0.0]
    bucket = TokenBucket(RateLimit(2, 3600.0), clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 1799.0  # not yet half an hour: less than one token back
    assert not bucket.take()
    now[0] = 1800.0
    assert bucket.take() and not bucket.take()
    now[0] = 100_000.0  # idle: refilled up to the count, not beyond
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_reserve_serves_in_order_on_credit_and_a_refusal_takes_nothing() -> None:
    now = [0.0]
    bucket = TokenBucket(RateLimit(10, 1.0, burst=1), clock=lambda: now[0])
    assert bucket.take() and not bucket.take()
    assert bucket.reserve() == pytest.approx(0.1)  # the refused take left no debt behind
    assert bucket.reserve() == pytest.approx(0.2)
    now[0] = 0.2
    assert bucket.reserve() == pytest.approx(0.1)


def test_line_published_limits_read_as_line_writes_them() -> None:
    assert str(LINE_RATE_LIMITS["multicast"]) == "200/s"
    assert str(LINE_RATE_LIMITS["broadcast"]) == "60/h"
    assert RateLimit(3, 60.0) == RateLimit(3, 60.0, None)
