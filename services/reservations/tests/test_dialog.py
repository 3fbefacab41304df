"""The booking dialog as a pure function: turns in, sessions, commands and replies out."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from cityhall.line.build import postback_buttons
from cityhall.line.contracts import IntentKind
from cityhall.line.dialog import Turn
from cityhall.line.japanese import JST
from cityhall.line.testing import dialog_turn, said
from cityhall.reservations import catalogue
from cityhall.reservations.dialog import Session, View, refused, respond
from cityhall.reservations.domain import Seat, Slot
from cityhall.reservations.events import Book, Cancel, Wait

USER = "U" + "1" * 32
OTHER = "U" + "2" * 32
CATALOGUE = catalogue.load()
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=JST)
SLOT = datetime(2026, 12, 12, 10, 0, tzinfo=JST)  # 公民館 会議室, Saturday


def view(**fields: Any) -> View:
    return View(CATALOGUE, NOW, lambda b: f"https://city.example/ics/{b.hex}.ics", **fields)


def turn(kind: IntentKind, session: Session | None, user: str = USER, **fields: Any) -> Turn[Session, Any]:
    return dialog_turn("reservations", kind, session, user, **fields)


def tap(t: Turn[Session, Any], prefix: str) -> str:
    return next(b.data for b in postback_buttons(t.replies) if b.label.startswith(prefix))


def test_tile_to_summary_then_confirm_books_with_the_sealed_answer() -> None:
    start = turn("postback", None, postback_data="domain=reservations&action=menu")
    respond(start, view())
    assert start.claim and start.session is not None and "ご希望の種類" in said(start)
    category = turn("postback", start.session, postback_data=tap(start, "施設"))
    respond(category, view())
    resource = turn("postback", category.session, postback_data=tap(category, "公民館 会議室"))
    respond(resource, view(left={SLOT: 0}))
    assert "12月12日（土） 残り" in said(resource) and resource.session is not None
    day = turn("postback", resource.session, postback_data=tap(resource, "12月12日（土）"))
    respond(day, view(left={SLOT: 0}))
    assert "10:00 満" in said(day) and "9:00 残り1" in said(day)
    chosen = turn("postback", day.session, postback_data=tap(day, "9:00"))
    respond(chosen, view())
    assert (
        chosen.session is not None and chosen.session.step == "question" and "利用される人数" in said(chosen)
    )
    too_many = turn("text", chosen.session, text="31")
    respond(too_many, view(sealed="pd1:x"))
    assert too_many.session == chosen.session and "1〜30の数字" in said(too_many)
    answered = turn("text", chosen.session, text="１２")
    respond(answered, view(sealed="pd1:sealed"))
    assert answered.session is not None and answered.session.step == "confirm"
    assert "予約内容の確認" in said(answered) and "12人" in said(answered)
    confirm = turn("postback", answered.session, postback_data=tap(answered, "確定"))
    respond(confirm, view())
    [(stream, command)] = confirm.commands
    assert stream == "slot-kominkan_room-202612120900" and isinstance(command, Book)
    assert command.answers == {"people": "pd1:sealed"} and command.booking_id == start.session.draft
    assert (
        confirm.session is None and "予約番号は R-" in said(confirm) and "カレンダーに追加" in said(confirm)
    )


def test_a_full_slot_offers_the_waitlist_and_a_lost_race_keeps_the_dialog() -> None:
    session = Session(uuid.uuid4(), "time", "facility", "kominkan_room")
    full = turn(
        "postback",
        session,
        postback_data=f"domain=reservations&action=time&d={session.draft.hex}&t=202612121000",
    )
    respond(full, view(left={SLOT: 0}))
    assert full.commands == [] and "満席" in said(full)
    wait = turn("postback", full.session, postback_data=tap(full, "空き待ちに登録"))
    respond(wait, view())
    assert wait.session is not None and wait.session.waiting and "利用される人数" in said(wait)
    answered = turn("text", wait.session, text="4")
    respond(answered, view(sealed="pd1:four"))
    [(_stream, joined)] = answered.commands
    assert isinstance(joined, Wait) and joined.answers == {"people": "pd1:four"}
    assert "空き待ちに登録しました" in said(answered)

    confirming = Session(uuid.uuid4(), "confirm", "facility", "kominkan_room", "202612121000", "pd1:x")
    lost = turn(
        "postback",
        confirming,
        postback_data=f"domain=reservations&action=book&d={confirming.draft.hex}&r=kominkan_room&t=202612121000",
    )
    respond(lost, view())
    assert lost.commands
    refused(lost, "full", confirming, view())
    assert lost.commands == [] and "満席" in said(lost) and "空き待ちに登録" in said(lost)
    assert lost.session is not None and lost.session.answers == "pd1:x"


def test_a_confirm_on_a_slot_fetched_full_is_answered_without_a_command() -> None:
    confirming = Session(uuid.uuid4(), "confirm", "facility", "kominkan_room", "202612121000", "pd1:x")
    data = f"domain=reservations&action=book&d={confirming.draft.hex}&r=kominkan_room&t=202612121000"
    resource = CATALOGUE.resource("kominkan_room")
    assert resource is not None
    seats = tuple(Seat(uuid.uuid4(), f"U{n:032d}", f"R-{n}") for n in range(resource.capacity))
    full = turn("postback", confirming, postback_data=data)
    respond(full, view(slot=Slot("kominkan_room", SLOT, seats)))
    assert full.commands == [] and "満席" in said(full) and "予約番号は" not in said(full)
    assert full.session is not None and full.session.answers == "pd1:x"  # as after a lost race
    one_left = turn("postback", confirming, postback_data=data)
    respond(one_left, view(slot=Slot("kominkan_room", SLOT, seats[1:])))
    [(_stream, command)] = one_left.commands
    assert isinstance(command, Book) and "予約番号は R-" in said(one_left)


def test_only_the_resident_cancels_their_booking_and_only_before_the_cutoff() -> None:
    booking_id = uuid.uuid4()
    slot = Slot("kominkan_room", SLOT, (Seat(booking_id, USER, "R-1"),))
    data = f"domain=reservations&action=cancel_ok&r=kominkan_room&t=202612121000&b={booking_id.hex}"
    forged = turn("postback", None, user=OTHER, postback_data=data)
    respond(forged, view(slot=slot))
    assert forged.commands == [] and "お受けできません" in said(forged)
    late = turn("postback", None, postback_data=data)
    respond(late, View(CATALOGUE, SLOT - timedelta(hours=71), lambda b: "", slot=slot))
    assert late.commands == [] and "0299-00-1241" in said(late)
    mine = turn("postback", None, postback_data=data)
    respond(mine, view(slot=slot))
    [(_stream, command)] = mine.commands
    assert isinstance(command, Cancel) and command.user_id == USER and "キャンセルしました" in said(mine)


def test_limits_and_stale_buttons_get_a_clear_answer() -> None:
    session = Session(uuid.uuid4(), "resource", "facility")
    limited = turn(
        "postback",
        session,
        postback_data=f"domain=reservations&action=res&d={session.draft.hex}&r=kominkan_room",
    )
    respond(limited, view(active=2))
    assert limited.session is None and "お一人2件まで" in said(limited)
    stale = turn(
        "postback", None, postback_data=f"domain=reservations&action=day&d={uuid.uuid4().hex}&v=20261212"
    )
    respond(stale, view())
    assert stale.session is None and "有効期限" in said(stale)
    typed = turn("text", None, text="こんにちは")
    respond(typed, view())
    assert typed.release and "有効期限" in said(typed)


def test_a_day_in_the_past_beyond_the_horizon_or_closed_is_refused_with_why() -> None:
    session = Session(uuid.uuid4(), "day", "facility", "kominkan_room")
    for value, why in (
        ("20261201", "すでに過ぎています"),
        ("20270301", "60日先まで"),
        ("20261214", "予約枠がありません"),  # Monday: the room is closed
        ("20261207", "24時間前まで"),  # today: within the lead time
        ("2026-12", "有効期限"),
    ):
        t = turn(
            "postback",
            session,
            postback_data=f"domain=reservations&action=day&d={session.draft.hex}&v={value}",
        )
        respond(t, view())
        assert t.commands == [] and t.session == session and why in said(t), value


def test_a_residents_only_resource_asks_residency_and_refuses_non_residents_with_whom_to_ask() -> None:
    start = turn("postback", None, postback_data="domain=reservations&action=menu")
    respond(start, view())
    category = turn("postback", start.session, postback_data=tap(start, "相談"))
    respond(category, view())
    asked = turn("postback", category.session, postback_data=tap(category, "法律相談"))
    respond(asked, view())
    assert asked.session is not None and asked.session.step == "residency"
    assert "市内にお住まいですか" in said(asked) and "予約日を選ぶ" not in said(asked)

    typed = turn("text", asked.session, text="はい")  # typed, not tapped: the buttons again
    respond(typed, view())
    assert "上のボタンから" in said(typed) and typed.session == asked.session
    forged = tap(asked, "はい").replace(asked.session.draft.hex, uuid.uuid4().hex)
    stale = turn("postback", asked.session, postback_data=forged)
    respond(stale, view())
    assert "有効期限" in said(stale)
    bogus = turn("postback", asked.session, postback_data=tap(asked, "はい").replace("v=yes", "v=maybe"))
    respond(bogus, view())
    assert "有効期限" in said(bogus)

    no = turn("postback", asked.session, postback_data=tap(asked, "いいえ"))
    respond(no, view())
    assert (
        no.session is None and "市内にお住まいの方のみ" in said(no) and "市民相談課 0299-00-1201" in said(no)
    )
    assert not no.commands

    yes = turn("postback", asked.session, postback_data=tap(asked, "はい"))
    respond(yes, view())
    assert yes.session is not None and yes.session.step == "day" and yes.session.resource == "houritsu_soudan"
    assert "12月10日（木）" in said(yes)
    again = turn("postback", yes.session, postback_data=tap(asked, "はい"))  # the answer tapped twice
    respond(again, view())
    assert "有効期限" in said(again) and again.session == yes.session
