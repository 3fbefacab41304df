"""The booking dialog, pure: 予約 → category → resource → day → time → the resource's questions →
summary → 確定; and 予約確認, 変更, キャンセル, 空き待ち and a waitlist offer's 予約する.

`respond(turn, view)` fills the turn (session, commands, replies) from the resident's session,
the intent and what the handler fetched beforehand (`View`). A booking that the slot as fetched
(`View.slot`) refuses is answered at once with `refused`. The handler runs the commands; when
the slot refuses one (the last seat went to someone else a moment before), it calls
`refused(turn, reason, session)` to answer instead.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from cityhall.events.decider import DomainError
from cityhall.line import postback
from cityhall.line.japanese import JST
from cityhall.reservations import messages as say
from cityhall.reservations.bulky import dialog as bulky
from cityhall.reservations.catalogue import Catalogue, Resource, SlotRef
from cityhall.reservations.domain import slot_decider
from cityhall.reservations.events import Book, Cancel, Unwait, Wait, booking_number
from cityhall.reservations.state import Session, Turn, View, still_bookable, weeks

LIST_WORDS = frozenset({"予約確認", "予約の確認", "確認"})
"""Typed words that list the resident's bookings."""


def named(intent_data: str | None) -> tuple[str, str]:
    """The resource and slot stamp a button names (`r`, `t`), if any."""
    tapped = postback.decode(intent_data)
    return (tapped.get("r"), tapped.get("t")) if tapped else ("", "")


def respond(turn: Turn, view: View) -> None:
    intent, session = turn.intent, turn.session
    text = (intent.text or "").strip() if intent.kind == "text" else ""
    if intent.kind == "postback":
        _tapped(turn, turn.postback, view)
    elif text in LIST_WORDS:
        turn.say(*say.bookings(view.upcoming, view.waiting))
    elif session is None:
        turn.say(*say.stale())
        turn.release = True
    elif session.step == bulky.DISTRICT and intent.kind == "location":
        bulky.located(turn, session, view)
    elif session.step in bulky.SEALED:
        bulky.personal(turn, session, view, text)
    elif session.step == bulky.ITEMS:
        bulky.typed(turn, session, view, text)
    elif session.step != "question":
        turn.say(*say.use_buttons(session.draft))
    else:
        _answered(turn, session, view, text)


def _answered(turn: Turn, session: Session, view: View, text: str) -> None:
    resource = view.catalogue.resource(session.resource)
    sealed = session.sealed()
    if resource is None or len(sealed) >= len(resource.questions):
        turn.say(*say.stale())
        turn.session = None
        return
    question = resource.questions[len(sealed)]
    value = question.parse(text) if text else None
    if value is None or view.sealed is None:
        turn.say(*say.numbers_only(session.draft, question))
    elif not question.within(value):
        if question.eligible:
            turn.say(*say.not_eligible(resource, question))
            turn.session = None
        else:
            turn.say(*say.bad_answer(session.draft, question))
    else:
        answered = replace(session, answers="\n".join([*sealed, view.sealed]))
        turn.session = answered
        if len(answered.sealed()) < len(resource.questions):
            turn.say(*say.ask(session.draft, resource.questions[len(answered.sealed())]))
            return
        ref = SlotRef(resource.code, _start(session.start))
        if session.waiting:
            _wait(turn, answered, view, resource, ref)
            return
        turn.session = replace(answered, step="confirm")
        clear = [*view.answers, str(value)]
        _summary(turn, turn.session, view, resource, ref, clear)


def _summary(
    turn: Turn, session: Session, view: View, resource: Resource, ref: SlotRef, clear: list[str]
) -> None:
    pairs = list(zip(resource.questions, clear, strict=False))
    replacing = ""
    if session.replaces:
        old = SlotRef.parse(resource.code, session.replaces.split("/")[0])
        replacing = say.when(old.start) if old else ""
    turn.say(*say.summary(session.draft, resource, ref, pairs, replacing))


def _start(stamp: str) -> datetime:
    ref = SlotRef.parse("", stamp)
    if ref is None:
        raise ValueError(f"{stamp!r} is not a slot stamp")
    return ref.start


def _tapped(turn: Turn, tapped: postback.Postback | None, view: View) -> None:
    session, action = turn.session, tapped.action if tapped else ""
    if tapped is None:
        turn.say(*say.stale())
        return
    if action == "menu":
        draft = uuid.uuid5(uuid.NAMESPACE_URL, f"reservations:{turn.intent.webhook_event_id}")
        turn.session, turn.claim = Session(draft, "category"), True
        turn.say(*say.categories(draft, view.catalogue))
        return
    if action == "list":
        turn.say(*say.bookings(view.upcoming, view.waiting))
        return
    if action == "keep":
        turn.say(*say.kept())
        return
    if action == "quit":
        turn.session = None
        turn.say(*say.quit())
        return
    if action in ("cancel", "cancel_ok", "change"):
        _booking_action(turn, action, tapped, view)
        return
    if action == "unwait":
        _unwait(turn, tapped, view)
        return
    if action == "accept":
        _accept(turn, tapped, view)
        return
    current = session is not None and session.draft == tapped.uuid("d")
    if action == "bk_pay" and not current:
        bulky.again(turn, tapped.uuid("d"), view)
        return
    if action == "book" and not current:
        _book_again(turn, tapped, view)
        return
    if not current or session is None:
        turn.say(*say.stale())
        return
    if bulky.owns(session) and action not in bulky.ACTIONS | {"day"}:
        turn.say(*say.stale())  # a pickup is booked only with its fee: no waitlist, no plain 確定
        return
    if action in bulky.ACTIONS:
        bulky.tapped(turn, session, tapped, view)
    elif action == "cat":
        _category(turn, session, tapped.get("c", ""), view)
    elif action == "res":
        _resource(turn, session, tapped.get("r", ""), view)
    elif action == "resident" and session.step == "residency":
        _residency(turn, session, tapped.get("v", ""), view)
    elif action == "day":
        _day(turn, session, tapped.get("v", ""), view)
    elif action == "time":
        _time(turn, session, tapped.get("t", ""), view)
    elif action == "wait":
        _wait_tapped(turn, session, tapped.get("t", ""), view)
    elif action == "book" and session.step == "confirm":
        _book(turn, session, view)
    else:
        turn.say(*say.stale())


def _category(turn: Turn, session: Session, code: str, view: View) -> None:
    category = view.catalogue.category(code)
    found = view.catalogue.in_category(code)
    if category is None or not found:
        turn.say(*say.stale())
        return
    if bulky.is_pickup(found[0]):
        bulky.start(turn, session, code, view)
        return
    turn.session = replace(session, step="resource", category=code)
    turn.say(*say.resources(session.draft, category.label, found))


def _resource(turn: Turn, session: Session, code: str, view: View) -> None:
    resource = view.catalogue.resource(code)
    if resource is None or bulky.is_pickup(resource):  # a pickup is chosen by its district
        turn.say(*say.stale())
        return
    if view.active >= resource.max_active and not session.replaces:
        turn.session = None
        turn.say(*say.limit_reached(resource))
        return
    if resource.residents_only and not session.replaces:  # a change keeps the booking's eligibility
        turn.session = replace(session, step="residency", resource=code)
        turn.say(*say.ask_residency(session.draft, resource))
        return
    _to_days(turn, replace(session, resource=code), resource, view)


def _residency(turn: Turn, session: Session, answer: str, view: View) -> None:
    resource = view.catalogue.resource(session.resource)
    if resource is None or answer not in ("yes", "no"):
        turn.say(*say.stale())
    elif answer == "yes":
        _to_days(turn, session, resource, view)
    else:
        turn.session = None
        turn.say(*say.not_resident(resource))


def _to_days(turn: Turn, session: Session, resource: Resource, view: View) -> None:
    turn.session = replace(session, step="day")
    turn.say(*say.days(session.draft, resource, weeks(view, resource)))


def _day(turn: Turn, session: Session, value: str, view: View) -> None:
    resource = view.catalogue.resource(session.resource)
    try:
        day = datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        day = None
    if resource is None or day is None:
        turn.say(*say.stale())
        return
    starts = view.catalogue.bookable_slots(resource, day, view.now)
    if not starts:
        earliest, last = view.catalogue.window(resource, view.now)
        too_soon = day <= earliest.astimezone(JST).date()
        reason = "past" if day < view.now.astimezone(JST).date() else "too_soon" if too_soon else "no_slot"
        if day >= last.astimezone(JST).date():
            reason = "too_far"
        turn.say(*say.time_refused(resource, reason))
        return
    if session.cart:  # a bulky-waste pickup: the day's one slot
        bulky.day_chosen(turn, session, resource, starts[0], view)
        return
    turn.session = replace(session, step="time")
    turn.say(*say.times(session.draft, resource, day, [(s, view.free(resource, s)) for s in starts]))


def _time(turn: Turn, session: Session, stamp: str, view: View) -> None:
    resource = view.catalogue.resource(session.resource)
    ref = SlotRef.parse(session.resource, stamp)
    if resource is None or ref is None:
        turn.say(*say.time_refused(resource, "no_slot") if resource else say.stale())
        return
    reason = view.catalogue.refusal(resource, ref.start, view.now)
    if reason is not None:
        turn.say(*say.time_refused(resource, reason))
        return
    chosen = replace(session, start=stamp, answers="", waiting=False)
    if view.free(resource, ref.start) <= 0:
        turn.session = replace(chosen, step="time")
        turn.say(*say.full(resource, ref, session.draft))
        return
    if resource.questions:
        turn.session = replace(chosen, step="question")
        turn.say(*say.ask(session.draft, resource.questions[0]))
        return
    turn.session = replace(chosen, step="confirm")
    _summary(turn, turn.session, view, resource, ref, [])


def _book(turn: Turn, session: Session, view: View) -> None:
    chosen = still_bookable(turn, session, session.start, view)
    if chosen is None:
        return
    resource, ref = chosen
    if session.replaces:
        old_stamp, _, old_id = session.replaces.partition("/")
        old_ref, booking_id = SlotRef.parse(resource.code, old_stamp), uuid.UUID(hex=old_id)
        if old_ref is not None and booking_id is not None:
            turn.command(old_ref.stream, _cancel(turn, resource, booking_id, view))
            turn.say(*say.changed(booking_number(session.draft), booking_number(booking_id)))
    turn.session = None
    _booking(turn, resource, ref, session.draft, _answers(resource, session), view, before=session)


def _booking(
    turn: Turn,
    resource: Resource,
    ref: SlotRef,
    booking_id: uuid.UUID,
    answers: dict[str, str],
    view: View,
    offer_id: uuid.UUID | None = None,
    *,
    before: Session | None,
) -> None:
    """Book the seat (the handler runs it; `refused` answers when the slot says no) and say so.
    `before`: the session as the turn began."""
    command = Book(
        booking_id=booking_id, user_id=turn.intent.user_id, resource=resource.code, start=ref.start,
        capacity=resource.capacity, answers=answers, offer_id=offer_id, now=view.now,
    )  # fmt: skip
    reason = _refusal(command, ref, view)
    if reason is not None:
        refused(turn, reason, before, view)
        return
    turn.command(ref.stream, command)
    turn.say(*say.booked(booking_number(booking_id), resource, ref, booking_id, view.ics_url(booking_id)))


def _refusal(command: Book, ref: SlotRef, view: View) -> str | None:
    """Why the slot as this turn read it refuses `command`, if it does. Answered at once, without a
    booking's answer built only to be thrown away (a full session refuses most of its 確定 taps);
    the handler still decides every command it is given on the stream."""
    slot = view.slot
    if slot is None or slot.resource != ref.resource or slot.start != ref.start:
        return None
    try:
        slot_decider.decide(command, slot)
    except DomainError as exc:
        return exc.reason
    return None


def _answers(resource: Resource, session: Session) -> dict[str, str]:
    """The session's sealed answers by question key."""
    return dict(zip([q.key for q in resource.questions], session.sealed(), strict=False))


def _cancel(turn: Turn, resource: Resource, booking_id: uuid.UUID, view: View) -> Cancel:
    return Cancel(
        booking_id=booking_id, user_id=turn.intent.user_id, capacity=resource.capacity,
        hold_hours=resource.hold_hours, now=view.now,
    )  # fmt: skip


def _book_again(turn: Turn, tapped: postback.Postback, view: View) -> None:
    """確定 with no dialog behind it: a double tap or a replay (the booking stands), or a forgery."""
    draft, seat = tapped.uuid("d"), None
    if draft is not None and view.slot is not None:
        seat = view.slot.seat(draft)
    if seat is None:
        turn.say(*say.stale())
    elif seat.user_id != turn.intent.user_id:
        turn.say(*say.not_yours())
    else:
        turn.say(*say.already_booked(seat.number))


def _wait_tapped(turn: Turn, session: Session, stamp: str, view: View) -> None:
    chosen = still_bookable(turn, session, stamp, view)
    if chosen is None:
        return
    resource, ref = chosen
    waiting = replace(session, waiting=True)
    if len(session.sealed()) < len(resource.questions):
        turn.session = replace(waiting, step="question")
        turn.say(*say.ask(session.draft, resource.questions[len(session.sealed())]))
        return
    _wait(turn, waiting, view, resource, ref)


def _wait(turn: Turn, session: Session, view: View, resource: Resource, ref: SlotRef) -> None:
    turn.command(
        ref.stream,
        Wait(user_id=turn.intent.user_id, resource=resource.code, start=ref.start, capacity=resource.capacity,
             answers=_answers(resource, session)),
    )  # fmt: skip
    turn.session = None
    turn.say(*say.waitlisted(resource, ref))


def _booking_action(turn: Turn, action: str, tapped: postback.Postback, view: View) -> None:
    """キャンセル (asks first), its confirmation, and 変更 (a new booking that replaces it)."""
    resource = view.catalogue.resource(tapped.get("r", ""))
    ref = SlotRef.parse(tapped.get("r", ""), tapped.get("t", ""))
    booking_id = tapped.uuid("b")
    seat = view.slot.seat(booking_id) if view.slot is not None and booking_id is not None else None
    if resource is None or ref is None or booking_id is None or seat is None:
        turn.say(*say.stale())
    elif seat.user_id != turn.intent.user_id:
        turn.say(*say.not_yours())
    elif not seat.active:
        turn.say(*say.already_cancelled(seat.number))
    elif view.now >= Catalogue.changeable_until(resource, ref.start):
        turn.say(*say.past_cutoff(resource, ref))
    elif action == "change" and bulky.is_pickup(resource):
        turn.say(*bulky.tell.no_change(resource))
    elif action == "cancel":
        turn.say(*say.confirm_cancel(seat.number, resource, ref, booking_id))
    elif action == "cancel_ok":
        turn.command(ref.stream, _cancel(turn, resource, booking_id, view))
        turn.say(*say.cancelled(seat.number))
    else:
        draft = uuid.uuid5(uuid.NAMESPACE_URL, f"reservations:{turn.intent.webhook_event_id}")
        changing = Session(
            draft, "day", resource.category, resource.code, replaces=f"{ref.stamp}/{booking_id.hex}"
        )
        turn.session, turn.claim = changing, True
        turn.say(*say.days(draft, resource, weeks(view, resource)))


def _accept(turn: Turn, tapped: postback.Postback, view: View) -> None:
    """予約する on a waitlist offer: the held seat becomes the resident's booking."""
    resource = view.catalogue.resource(tapped.get("r", ""))
    ref = SlotRef.parse(tapped.get("r", ""), tapped.get("t", ""))
    offer_id = tapped.uuid("o")
    offer = view.slot.offer(offer_id) if view.slot is not None and offer_id is not None else None
    if resource is None or ref is None or offer_id is None:
        turn.say(*say.stale())
        return
    taken = (
        next((s for s in view.slot.seats if s.booking_id == _offer_booking(offer_id)), None)
        if view.slot
        else None
    )
    if taken is not None and taken.user_id == turn.intent.user_id:
        turn.say(*say.already_booked(taken.number))
    elif offer is not None and offer.user_id != turn.intent.user_id:
        turn.say(*say.not_yours())
    elif offer is None or offer.until <= view.now:
        turn.say(*say.offer_gone())
    else:
        booking_id = _offer_booking(offer_id)
        _booking(turn, resource, ref, booking_id, dict(offer.answers), view, offer_id, before=turn.session)


def _unwait(turn: Turn, tapped: postback.Postback, view: View) -> None:
    """空き待ちを取り消す: the resident leaves the slot's waitlist (a seat held for them passes on)."""
    resource = view.catalogue.resource(tapped.get("r"))
    ref = SlotRef.parse(tapped.get("r"), tapped.get("t"))
    if resource is None or ref is None:
        turn.say(*say.stale())
        return
    command = Unwait(
        user_id=turn.intent.user_id, capacity=resource.capacity, hold_hours=resource.hold_hours, now=view.now
    )
    turn.command(ref.stream, command)
    turn.say(*say.left_waitlist(resource, ref))


def _offer_booking(offer_id: uuid.UUID) -> uuid.UUID:
    """The booking an offer becomes: one, however often 予約する is tapped."""
    return uuid.uuid5(offer_id, "booking")


def refused(turn: Turn, reason: str, before: Session | None, view: View) -> None:
    """The slot refused the turn's commands (nothing was written): say why, keep the dialog."""
    turn.commands.clear()
    turn.replies.clear()
    turn.session = before
    if before is not None and before.step == bulky.CONFIRM:
        bulky.refused(turn, reason, before, view)
        return
    resource_code, stamp = named(turn.intent.postback_data)
    if before is not None and not resource_code:
        resource_code, stamp = before.resource, before.start
    resource = view.catalogue.resource(resource_code)
    ref = SlotRef.parse(resource_code, stamp)
    if resource is None or ref is None:
        turn.say(*say.stale())
    elif reason == "full":
        if before is not None:
            turn.session = replace(before, step="time")
        turn.say(*say.full(resource, ref, before.draft if before else None))
    elif reason == "not_waiting":
        turn.say(*say.not_waiting())
    elif reason == "already_waiting":
        turn.say(*say.already_waiting())
    elif reason == "seats_free":
        turn.say(*say.seats_free(resource, ref))
    elif reason == "already_booked":
        turn.say(*say.already_in_slot(resource, ref))
    elif reason == "offer_gone":
        turn.say(*say.offer_gone())
    elif reason == "not_yours":
        turn.say(*say.not_yours())
    elif reason == "already_cancelled":
        turn.say(*say.already_cancelled())
    elif reason == "closed":
        turn.session = None
        turn.say(*say.time_refused(resource, "closed"))
    else:
        turn.say(*say.stale())
