"""The bulky-waste part of the booking dialog, pure: 粗大ごみ収集 → district → items (typed names
searched in the price list, chosen with a count, as many as the list allows) → the district's
pickup day (the booking dialog's day carousel) → a Flex summary with the fee → 確定して支払う:
the seat booked and the pickup ordered with its checkout, in one turn. The 受付番号 comes once
the provider confirms the payment (handlers.py). The booking dialog (`cityhall.reservations.dialog`)
hands its turns here where a step or a button is bulky's.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from linebot.v3.messaging import Message

from cityhall.events.personal import FORGOTTEN
from cityhall.line import postback
from cityhall.payment_protocol.port import Checkout
from cityhall.reservations import messages as say
from cityhall.reservations import state as booking
from cityhall.reservations.bulky import messages as tell
from cityhall.reservations.bulky.events import Order, pickup_stream
from cityhall.reservations.bulky.facts import Facts
from cityhall.reservations.bulky.prices import CATEGORY, PriceList, fee, put
from cityhall.reservations.catalogue import Resource, SlotRef
from cityhall.reservations.events import Book, booking_number
from cityhall.town import Point, district_of
from cityhall.town import district as town_district
from cityhall.town import districts as town_districts

DISTRICT = "bulky_district"
"""The session's step while the resident chooses (or sends the location of) their district."""
ADDRESS = "bulky_address"
"""The session's step while the resident types the pickup's 番地 and building (the 町 is the district's)."""
PHONE = "bulky_phone"
"""The session's step while the resident types a number to reach them on the pickup day."""
SEALED = frozenset({ADDRESS, PHONE})
"""The steps whose typed text is personal (the handler seals it with the resident's key)."""
ADDRESS_KEY, PHONE_KEY = "address", "phone"
"""The pickup's answers on its booking (sealed like a booking's answers, forgotten with the key)."""
ITEMS = "bulky_items"
"""The session's step while the resident names what they put out."""
CONFIRM = "bulky_confirm"
ACTIONS = frozenset({"bk_dist", "bk_item", "bk_count", "bk_days", "bk_pay"})


def checkout_attempt(session: booking.Session) -> int:
    """The provider's idempotency for a checkout: one per draft, day and items (another day or
    other items is another amount, so another checkout)."""
    return zlib.crc32(f"{session.start}/{session.cart}".encode())


def is_pickup(resource: Resource) -> bool:
    return resource.category == CATEGORY


def owns(session: booking.Session) -> bool:
    """Whether the dialog is a pickup's (its buttons alone apply, and the day carousel's)."""
    return session.category == CATEGORY


def district_name(key: str) -> str:
    found = town_district(key)
    return found.name if found else key


def full_address(district_key: str, typed: str) -> str:
    """The 町 of the district and what the resident typed, without the 町 twice."""
    town = district_name(district_key)
    return typed if typed.startswith(town) else town + typed


def where(district_key: str, clear: Mapping[str, str]) -> tell.Where:
    """A pickup's address and phone from its booking's answers in clear (消去済み once forgotten)."""
    address, phone = clear.get(ADDRESS_KEY, ""), clear.get(PHONE_KEY, "")
    return tell.Where(
        "（消去済み）" if address == FORGOTTEN else full_address(district_key, address) if address else "",
        "（消去済み）" if phone == FORGOTTEN else phone,
    )


def address_problem(text: str) -> str | None:
    """Why a typed 番地/建物 cannot be the pickup's address (None when it can)."""
    plain = unicodedata.normalize("NFKC", text).strip()
    if len(plain) < 2 or len(plain) > 60:
        return "length"
    if not any(c.isdecimal() for c in plain):
        return "number"
    return None


def phone_number(text: str) -> str | None:
    """A Japanese phone number as typed (hyphens, spaces, full-width digits allowed), or None."""
    digits = re.sub(r"[-‐－ー−()（）\s]", "", unicodedata.normalize("NFKC", text))
    return digits if re.fullmatch(r"0\d{9,10}", digits) else None


def answers(session: booking.Session) -> dict[str, str]:
    """The pickup's sealed address and phone, for its booking."""
    return dict(zip((ADDRESS_KEY, PHONE_KEY), session.sealed(), strict=False))


def start(turn: booking.Turn, session: booking.Session, category: str, view: booking.View) -> None:
    facts = view.bulky
    if facts is None:
        turn.say(*say.stale())
        return
    turn.session = replace(session, step=DISTRICT, category=category, cart="")
    turn.say(*tell.districts(session.draft, _choices(facts.prices)))


def _choices(prices: PriceList) -> list[tuple[str, str, str]]:
    """The town's districts that have a pickup: (key, name, pickup resource)."""
    return [(d.key, d.name, prices.districts[d.key]) for d in town_districts() if d.key in prices.districts]


def located(turn: booking.Turn, session: booking.Session, view: booking.View) -> None:
    """A location sent at the district step: the district it lies in (libs/town), to confirm."""
    where = turn.intent.location
    if view.bulky is None or where is None:
        turn.say(*say.stale())
        return
    found = district_of(Point(where.latitude, where.longitude))
    choices = _choices(view.bulky.prices)
    chosen = next((c for c in choices if found is not None and c[0] == found.key), None)
    turn.say(*tell.district_found(session.draft, chosen, choices))


def tapped(turn: booking.Turn, session: booking.Session, tap: postback.Postback, view: booking.View) -> None:
    facts = view.bulky
    if facts is None:
        turn.say(*say.stale())
        return
    prices, action = facts.prices, tap.action
    if action == "bk_dist":
        resource = prices.resource_of(view.catalogue, tap.get("v"))
        if resource is None:
            turn.say(*say.stale())
            return
        if view.active >= resource.max_active:
            turn.session = None
            turn.say(*say.limit_reached(resource))
            return
        turn.session = replace(
            session, step=ADDRESS, resource=resource.code, district=tap.get("v"), answers=""
        )
        turn.say(*tell.ask_address(session.draft, district_name(tap.get("v"))))
    elif action == "bk_item" and session.step == ITEMS:
        item = prices.item(tap.get("i"))
        if item is None:
            turn.say(*say.stale())
        elif len(prices.lines(session.cart)) >= prices.max_kinds and item.code not in session.cart:
            turn.say(*tell.too_many_kinds(session.draft, prices))
        else:
            turn.say(*tell.ask_count(session.draft, item, prices))
    elif action == "bk_count" and session.step == ITEMS:
        item, count = prices.item(tap.get("i")), tap.get("n")
        if item is None or not count.isdecimal() or not 1 <= int(count) <= prices.max_count:
            turn.say(*say.stale())
            return
        cart = put(session.cart, item.code, int(count))
        if len(prices.lines(cart)) > prices.max_kinds:
            turn.say(*tell.too_many_kinds(session.draft, prices))
            return
        turn.session = replace(session, cart=cart)
        turn.say(*tell.cart(session.draft, prices.lines(cart), prices))
    elif action == "bk_days" and session.cart:
        resource = view.catalogue.resource(session.resource)
        if resource is None:
            turn.say(*say.stale())
            return
        turn.session = replace(session, step="day")
        turn.say(*say.days(session.draft, resource, booking.weeks(view, resource)))
    elif action == "bk_days":
        turn.say(*tell.empty_cart(session.draft))
    elif action == "bk_pay" and session.step == CONFIRM:
        _pay(turn, session, facts, view)
    else:
        turn.say(*say.stale())


def personal(turn: booking.Turn, session: booking.Session, view: booking.View, text: str) -> None:
    """The address, then the phone number, typed: checked, and kept sealed (the handler sealed it)."""
    if view.bulky is None:
        turn.say(*say.stale())
        return
    if not text or view.sealed is None:  # a sticker, a photo: the question again
        turn.say(*_ask(session))
        return
    if session.step == ADDRESS:
        problem = address_problem(text)
        if problem is not None:
            turn.say(*tell.bad_address(session.draft, district_name(session.district), problem))
            return
        turn.session = replace(session, step=PHONE, answers=view.sealed)
        turn.say(*tell.ask_phone(session.draft, full_address(session.district, text.strip())))
        return
    if phone_number(text) is None:
        turn.say(*tell.bad_phone(session.draft))
        return
    turn.session = replace(session, step=ITEMS, answers="\n".join([*session.sealed()[:1], view.sealed]))
    turn.say(*tell.ask_item(session.draft, district_name(session.district), view.bulky.prices))


def _ask(session: booking.Session) -> list[Message]:
    if session.step == ADDRESS:
        return tell.ask_address(session.draft, district_name(session.district))
    return tell.bad_phone(session.draft)


def typed(turn: booking.Turn, session: booking.Session, view: booking.View, text: str) -> None:
    """A name typed while choosing items: the matching items of the price list."""
    if view.bulky is None or not text:
        turn.say(*say.use_buttons(session.draft))
        return
    prices = view.bulky.prices
    found = prices.search(text)
    if found:
        turn.say(*tell.matches(session.draft, text[:20], found))
    else:
        turn.say(*tell.not_found(session.draft, text[:20], prices, prices.refusal(text)))


def day_chosen(
    turn: booking.Turn, session: booking.Session, resource: Resource, start: datetime, view: booking.View
) -> None:
    """The pickup day (its one slot): full, or the summary with the fee."""
    if view.bulky is None:
        turn.say(*say.stale())
        return
    ref = SlotRef(resource.code, start)
    if view.free(resource, start) <= 0:
        turn.say(*tell.day_full(session.draft, start.date()))
        return
    turn.session = replace(session, step=CONFIRM, start=ref.stamp)
    lines = view.bulky.prices.lines(session.cart)
    here = where(session.district, dict(zip((ADDRESS_KEY, PHONE_KEY), view.answers, strict=False)))
    turn.say(
        *tell.summary(
            session.draft, resource, district_name(session.district), ref, lines, view.bulky.prices, here
        )
    )


def _pay(turn: booking.Turn, session: booking.Session, facts: Facts, view: booking.View) -> None:
    chosen = booking.still_bookable(turn, session, session.start, view)
    if chosen is None:
        return
    resource, ref = chosen
    checkout = facts.checkout
    if not isinstance(checkout, Checkout):
        turn.say(*tell.payment_unavailable(session.draft, ref))
        return
    lines = facts.prices.lines(session.cart)
    until = view.now + timedelta(minutes=facts.prices.hold_minutes)
    user = turn.intent.user_id
    turn.command(
        ref.stream,
        Book(booking_id=session.draft, user_id=user, resource=resource.code, start=ref.start,
             capacity=resource.capacity, answers=answers(session), now=view.now),
    )  # fmt: skip
    turn.command(
        pickup_stream(session.draft),
        Order(booking_id=session.draft, user_id=user, resource=resource.code, start=ref.start, lines=lines,
              checkout_id=checkout.checkout_id, checkout_url=checkout.url, until=until),
    )  # fmt: skip
    turn.session = None
    turn.say(*tell.pay(fee(lines), checkout.url, until, ref))


def again(turn: booking.Turn, draft: uuid.UUID | None, view: booking.View) -> None:
    """確定して支払う with no dialog behind it: a double tap or a replay (the pay link again, or the
    受付番号), or someone else's button."""
    pickup = view.bulky.pickup if view.bulky else None
    if draft is None or pickup is None or pickup.status == "new":
        turn.say(*say.stale())
    elif pickup.user_id != turn.intent.user_id:
        turn.say(*say.not_yours())
    elif pickup.status == "paid":
        turn.say(*tell.already_paid(booking_number(draft)))
    elif pickup.status == "unpaid" and pickup.until is not None and pickup.start is not None:
        ref = SlotRef(pickup.resource, pickup.start)
        turn.say(*tell.pay(pickup.fee, pickup.checkout_url, pickup.until, ref))
    else:
        turn.say(*tell.no_longer_open())


def refused(turn: booking.Turn, reason: str, before: booking.Session, view: booking.View) -> None:
    """The day's seats went to someone else between the summary and 確定して支払う (nothing was
    written): another day, with the items kept."""
    ref = SlotRef.parse(before.resource, before.start)
    resource = view.catalogue.resource(before.resource)
    turn.session = replace(before, step=ITEMS)
    if reason in ("full", "closed") and ref is not None:
        turn.say(*tell.day_full(before.draft, ref.start.date()))
    elif reason == "already_booked" and ref is not None and resource is not None:
        turn.session = None
        turn.say(*say.already_in_slot(resource, ref))
    else:
        turn.say(*say.stale())
