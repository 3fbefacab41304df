"""The price list's rules and a pickup's decider, pure."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from cityhall.line.japanese import JST
from cityhall.reservations import catalogue
from cityhall.reservations.bulky import prices
from cityhall.reservations.bulky.dialog import address_problem, full_address, phone_number, where
from cityhall.reservations.bulky.domain import Pickup, decide, pickup_decider
from cityhall.reservations.bulky.events import (
    CompleteRefund,
    Expire,
    Line,
    Order,
    Pay,
    PickupExpired,
    PickupPaid,
    PickupRefunded,
    PickupWithdrawn,
    RefundDue,
    Withdraw,
)

PRICES = prices.load()
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=JST)
BOOKING = uuid.UUID(int=7)
LINES = [
    Line(code="sofa_2", name="ソファ（2人掛け以上）", fee=1000, count=2),
    Line(code="bicycle", name="自転車", fee=500, count=1),
]


def test_the_price_list_fits_the_catalogue_and_the_town() -> None:
    PRICES.check(catalogue.load())
    assert set(PRICES.districts) == {"honcho", "kita", "higashi", "minami", "nishi"}


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("ソファ", {"sofa_1", "sofa_2"}),
        ("そふぁ", {"sofa_1", "sofa_2"}),
        ("２人掛けのソファ", {"sofa_1", "sofa_2"}),
        ("ジテンシャ", {"bicycle"}),
        ("いす", {"zaisu", "chair"}),
        ("宇宙船", set()),
        ("  ", set()),
    ],
)
def test_the_search_finds_items_by_name_in_either_kana(typed: str, found: set[str]) -> None:
    assert {i.code for i in PRICES.search(typed)} == found


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("090-1234-5678", "09012345678"),
        ("０３（１２３４）５６７８", "0312345678"),
        ("0299 00 1530", "0299001530"),
        ("1234", None),
        ("090-1234-56789", None),
        ("でんわ", None),
    ],
)
def test_a_phone_number_is_ten_or_eleven_digits_from_zero(typed: str, number: str | None) -> None:
    assert phone_number(typed) == number


def test_the_address_needs_a_number_and_gets_its_district_once() -> None:
    assert address_problem("コーポ本町") == "number"
    assert address_problem("1") == "length" and address_problem("1" * 61) == "length"
    assert address_problem("２丁目３－４") is None
    assert full_address("honcho", "2丁目3-4") == "本町2丁目3-4" == full_address("honcho", "本町2丁目3-4")
    forgotten = where("honcho", {"address": "[forgotten]", "phone": "[forgotten]"})
    assert (forgotten.address, forgotten.phone) == ("（消去済み）", "（消去済み）")


def test_what_is_not_collected_says_why() -> None:
    assert "家電リサイクル法" in (PRICES.refusal("古いテレビ") or "")
    assert PRICES.refusal("ソファ") is None


def test_the_cart_adds_replaces_and_prices_its_lines() -> None:
    cart = prices.put(prices.put("", "sofa_2", 2), "bicycle", 1)
    assert prices.fee(PRICES.lines(cart)) == 2500
    assert prices.fee(PRICES.lines(prices.put(cart, "sofa_2", 1))) == 1500
    assert PRICES.lines(prices.put(cart, "sofa_2", 0)) == [LINES[1]]
    assert PRICES.lines("unknown:3,sofa_1:x") == []


def ordered() -> Pickup:
    order = Order(
        booking_id=BOOKING, user_id="U1", resource="sodai_honcho", start=NOW + timedelta(days=7),
        lines=LINES, checkout_id="co_1", checkout_url="https://pay.example/co_1", until=NOW + timedelta(minutes=30),
    )  # fmt: skip
    state = pickup_decider.fold(decide(order, Pickup()))
    assert state.status == "unpaid" and state.fee == 2500
    assert decide(order, state) == []  # ordered once
    return state


def test_paid_once_whatever_the_replays() -> None:
    state = ordered()
    paid = decide(Pay(payment_id="p1", checkout_id="co_1", amount=2500), state)
    assert [type(e) for e in paid] == [PickupPaid]
    state = pickup_decider.fold(paid, state)
    assert decide(Pay(payment_id="p1", checkout_id="co_1", amount=2500), state) == []
    [twice] = decide(Pay(payment_id="p2", checkout_id="co_1", amount=2500), state)
    assert isinstance(twice, RefundDue) and twice.reason == "duplicate"


def test_a_wrong_amount_or_another_checkout_is_refunded_and_pays_nothing() -> None:
    state = ordered()
    [wrong] = decide(Pay(payment_id="p1", checkout_id="co_1", amount=100), state)
    assert isinstance(wrong, RefundDue) and wrong.reason == "amount"
    [other] = decide(Pay(payment_id="p2", checkout_id="co_9", amount=2500), state)
    assert isinstance(other, RefundDue)


def test_unpaid_expires_at_the_hold_and_a_late_payment_is_refunded() -> None:
    state = ordered()
    assert decide(Expire(now=NOW + timedelta(minutes=29)), state) == []
    expired = decide(Expire(now=NOW + timedelta(minutes=30)), state)
    assert [type(e) for e in expired] == [PickupExpired]
    state = pickup_decider.fold(expired, state)
    assert decide(Expire(now=NOW + timedelta(hours=1)), state) == []
    assert decide(Withdraw(by="system"), state) == []  # the released seat's cancellation
    [late] = decide(Pay(payment_id="p1", checkout_id="co_1", amount=2500), state)
    assert isinstance(late, RefundDue) and late.reason == "late"


def test_a_withdrawn_paid_pickup_is_refunded_once() -> None:
    state = pickup_decider.fold(
        decide(Pay(payment_id="p1", checkout_id="co_1", amount=2500), ordered()), ordered()
    )
    assert decide(Expire(now=NOW + timedelta(days=1)), state) == []  # paid: never expires
    withdrawn = decide(Withdraw(by="U1"), state)
    assert [type(e) for e in withdrawn] == [PickupWithdrawn, RefundDue]
    state = pickup_decider.fold(withdrawn, state)
    assert decide(CompleteRefund(payment_id="p9", refund_id="r9"), state) == []  # nothing due for it
    [done] = decide(CompleteRefund(payment_id="p1", refund_id="r1"), state)
    assert isinstance(done, PickupRefunded) and done.amount == 2500
    assert decide(CompleteRefund(payment_id="p1", refund_id="r1"), pickup_decider.fold([done], state)) == []
    assert decide(Withdraw(by="U1"), state) == []


def test_a_failed_checkout_ends_the_pickup_at_once_unless_it_is_an_older_one() -> None:
    state = ordered()
    assert decide(Expire(now=NOW, reason="failed", checkout_id="co_0"), state) == []
    [ended] = decide(Expire(now=NOW, reason="cancelled", checkout_id="co_1"), state)
    assert isinstance(ended, PickupExpired) and ended.reason == "cancelled"
    paid = pickup_decider.fold(decide(Pay(payment_id="p1", checkout_id="co_1", amount=2500), state), state)
    assert decide(Expire(now=NOW, reason="failed", checkout_id="co_1"), paid) == []
