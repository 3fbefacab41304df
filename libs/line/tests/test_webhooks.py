"""LINE's webhook ids and signature, in the one place that makes them."""

from __future__ import annotations

import uuid

import pytest
from linebot.v3.webhook import SignatureValidator

from cityhall.line.contracts import intent_id
from cityhall.line.webhooks import ULID_PATTERN, sign, ulid, ulid_time_ms, ulid_uuid

SECRET = "0123456789abcdef0123456789abcdef"


def test_the_signature_is_the_one_line_bot_sdk_accepts_and_no_other() -> None:
    body = '{"destination":"U0","events":[{"text":"住民票"}]}'.encode()
    validator = SignatureValidator(SECRET)
    assert validator.validate(body.decode(), sign(SECRET, body))
    assert not validator.validate(body.decode(), sign("another-secret", body))
    assert not validator.validate(body.decode() + " ", sign(SECRET, body))


def test_a_ulid_carries_its_milliseconds_and_reads_back_as_its_128_bits() -> None:
    value = ulid(1_700_000_000_123)
    assert ULID_PATTERN.fullmatch(value)
    assert ulid_time_ms(value) == 1_700_000_000_123
    number = ulid_uuid(value)
    assert number is not None and number.int >> 80 == 1_700_000_000_123
    assert ulid_uuid(value.lower()) == number  # LINE's ids are read in either case
    assert ulid(2**48 - 1).startswith("7ZZZZZZZZZ")


@pytest.mark.parametrize(
    "value", ["", "not-a-ulid", "8" + "0" * 25, "0" * 25, "0" * 25 + "U", "0" * 26 + "\n"]
)
def test_what_is_not_a_ulid_is_refused(value: str) -> None:
    assert ulid_uuid(value) is None
    with pytest.raises(ValueError, match="not a ULID"):
        ulid_time_ms(value)


def test_an_intent_id_is_the_ulid_itself_or_a_stable_name_based_id() -> None:
    value = ulid()
    assert intent_id(value) == ulid_uuid(value)
    assert intent_id("not-a-ulid") == uuid.uuid5(uuid.NAMESPACE_URL, "line-webhook-event:not-a-ulid")
    assert intent_id("0" * 26 + "\n") == uuid.uuid5(
        uuid.NAMESPACE_URL, "line-webhook-event:" + "0" * 26 + "\n"
    )
