"""The report dialog, pure: tile → category → 1–3 photos → location → (the same as a nearby
report? then subscribe) → optional comment → summary → 送信 → receipt. Also 通報履歴, and the
buttons of the status messages (満足 / 不満, まだ直っていない).

`respond(turn, facts)` fills the turn from the resident's session and intent; the handler fetched
what it needs beforehand (`Facts`): the report a button names, the photo stored, where the
location lies and the open reports near it, the comment sealed, the resident's reports.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cityhall.events.decider import DomainError
from cityhall.line import dialog, postback
from cityhall.line.content import Photo, PhotoRefused
from cityhall.reports import messages as say
from cityhall.reports.categories import CATEGORIES
from cityhall.reports.domain import MAX_PHOTOS, MAX_TEXT, Report, report_decider
from cityhall.reports.events import Command, File, Rate, Reopen, Subscribe, receipt_number, report_stream


@dataclass
class Session:
    report_id: uuid.UUID
    awaiting: str
    """"category", "photo", "location", "duplicate", "comment" or "confirm"."""
    category: str = ""
    photos: str = ""
    """The stored photos' ids, comma-separated."""
    latitude: float = 0.0
    longitude: float = 0.0
    district: str = ""
    """The district's Japanese name (for the summary)."""
    address: str = ""
    """LINE's address of the point, sealed with the resident's key."""
    comment: str = ""
    """Sealed with the resident's key."""
    candidates: str = ""
    """The nearby open reports offered as the same one, comma-separated ids."""

    @property
    def photo_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(p) for p in self.photos.split(",") if p]


@dataclass(frozen=True)
class Located:
    """Where the resident's location message points, as the handler found it."""

    district: str | None
    """The district's name; None outside the town."""
    address: str = ""
    """LINE's address, sealed."""
    nearby: Sequence[say.Nearby] = ()


@dataclass(frozen=True)
class Facts:
    report: Report | None = None
    """The report a button names (`r`, or `d` for 「同じ」)."""
    photo: Photo | PhotoRefused | None = None
    located: Located | None = None
    sealed: str | None = None
    """The resident's text, sealed (None when they are forgotten or sent no text)."""
    mine: Sequence[say.Mine] = field(default_factory=list)


Turn = dialog.Turn[Session, Command]

PHOTO_NAMESPACE = uuid.UUID("6a1c1c3e-3f0b-4b7e-9c55-3f5c0a6d2f10")


def photo_id(webhook_event_id: str) -> uuid.UUID:
    """The id a resident's photo is stored under: the same on a redelivery."""
    return uuid.uuid5(PHOTO_NAMESPACE, webhook_event_id)


def thumbnail_id(photo: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(photo, "thumbnail")


def named_report(data: str | None, key: str = "r") -> uuid.UUID | None:
    """The report a button's data names, if it names one well-formed."""
    tapped = postback.decode(data)
    try:
        return uuid.UUID(hex=tapped.get(key)) if tapped and tapped.get(key) else None
    except ValueError:
        return None


def respond(turn: Turn, facts: Facts) -> None:
    intent, session = turn.intent, turn.session
    if intent.kind == "postback":
        _tapped(turn, postback.decode(intent.postback_data), facts)
    elif session is None:
        turn.say(*say.stale())
        turn.release = True
    elif intent.kind == "image" and session.awaiting == "photo":
        _photo(turn, session, facts.photo)
    elif intent.kind == "location" and session.awaiting == "location":
        _located(turn, session, facts.located)
    elif intent.kind == "text" and session.awaiting == "comment" and facts.sealed is not None:
        if len(intent.text or "") > MAX_TEXT:
            turn.say(*say.comment_too_long(session.report_id))
        else:
            _confirm(turn, replace(session, awaiting="confirm", comment=facts.sealed))
    else:
        turn.say(*say.hint(session.report_id, session.awaiting, len(session.photo_ids)))


def _photo(turn: Turn, session: Session, photo: Photo | PhotoRefused | None) -> None:
    if not isinstance(photo, Photo):
        turn.say(*say.photo_refused(session.report_id, photo or PhotoRefused("unavailable")))
        return
    ids = (
        [*session.photo_ids, photo.photo_id] if photo.photo_id not in session.photo_ids else session.photo_ids
    )
    photos = ",".join(str(p) for p in ids)
    if len(ids) >= MAX_PHOTOS:
        turn.session = replace(session, photos=photos, awaiting="location")
        turn.say(*say.ask_location(session.report_id))
    else:
        turn.session = replace(session, photos=photos)
        turn.say(*say.photo_received(session.report_id, len(ids)))


def _located(turn: Turn, session: Session, located: Located | None) -> None:
    location = turn.intent.location
    if located is None or location is None or located.district is None:
        turn.say(*say.outside_town(session.report_id))
        return
    moved = replace(
        session,
        latitude=location.latitude,
        longitude=location.longitude,
        district=located.district,
        address=located.address,
    )
    if located.nearby:
        turn.session = replace(
            moved, awaiting="duplicate", candidates=",".join(n.report_id.hex for n in located.nearby)
        )
        turn.say(*say.ask_same(session.report_id, session.category, located.nearby))
    else:
        turn.session = replace(moved, awaiting="comment")
        turn.say(*say.ask_comment(session.report_id))


def _confirm(turn: Turn, session: Session) -> None:
    turn.session = session
    turn.say(
        *say.summary(
            say.Summary(
                session.report_id,
                session.category,
                session.district,
                session.latitude,
                session.longitude,
                len(session.photo_ids),
                bool(session.comment),
            )
        )
    )


def _tapped(turn: Turn, tapped: postback.Postback | None, facts: Facts) -> None:
    session, action = turn.session, tapped.action if tapped else ""
    intent = turn.intent
    if action == "menu":
        report_id = uuid.uuid5(uuid.NAMESPACE_URL, f"reports:{intent.webhook_event_id}")
        turn.session, turn.claim = Session(report_id, "category"), True
        turn.say(*say.ask_category(report_id))
        return
    if action == "history":
        turn.say(*say.history(facts.mine))
        return
    if action in ("rate", "reopen") and tapped is not None:
        _after(turn, tapped, facts.report)
        return
    current = session is not None and session.report_id == named_report(intent.postback_data)
    step = session.awaiting if session is not None and current else ""
    if action == "cancel" and session is not None and current:
        turn.session = None
        turn.say(*say.cancelled())
    elif action == "category" and session is not None and step == "category" and tapped:
        category = tapped.get("c")
        if category not in CATEGORIES:
            turn.say(*say.ask_category(session.report_id))
            return
        turn.session = replace(session, awaiting="photo", category=category)
        turn.say(*say.ask_photo(session.report_id, category))
    elif action == "photos_done" and session is not None and step == "photo" and session.photo_ids:
        turn.session = replace(session, awaiting="location")
        turn.say(*say.ask_location(session.report_id))
    elif action == "same" and session is not None and step == "duplicate":
        _same(turn, session, facts.report)
    elif action == "new" and session is not None and step == "duplicate":
        turn.session = replace(session, awaiting="comment", candidates="")
        turn.say(*say.ask_comment(session.report_id))
    elif action == "skip" and session is not None and step == "comment":
        _confirm(turn, replace(session, awaiting="confirm", comment=""))
    elif action == "send" and session is not None and step == "confirm":
        turn.command(
            report_stream(session.report_id),
            File(
                report_id=session.report_id,
                user_id=intent.user_id,
                category=session.category,
                latitude=session.latitude,
                longitude=session.longitude,
                photos=tuple(session.photo_ids),
                comment=session.comment,
                address=session.address,
                at=intent.timestamp,
            ),
        )
        turn.session = None
        turn.say(*say.received(receipt_number(session.report_id), session.category))
    elif facts.report is not None and facts.report.report_id is not None and action == "send":
        # A double tap or a replayed button: the report is already in; someone else's: refused.
        mine = facts.report.user_id == intent.user_id
        turn.say(*(say.already_sent(facts.report.number) if mine else say.not_yours()))
    elif session is not None and current:
        turn.say(*say.hint(session.report_id, session.awaiting, len(session.photo_ids)))
    else:
        turn.say(*say.stale())


def _same(turn: Turn, session: Session, report: Report | None) -> None:
    chosen = named_report(turn.intent.postback_data, "d")
    offered = chosen is not None and chosen.hex in session.candidates.split(",")
    if chosen is None or not offered or report is None or report.report_id != chosen:
        turn.say(*say.hint(session.report_id, session.awaiting, len(session.photo_ids)))
        return
    if not report.is_open:  # closed since it was offered: file this one after all
        turn.session = replace(session, awaiting="comment", candidates="")
        turn.say(*say.ask_comment(session.report_id))
        return
    turn.command(report_stream(chosen), Subscribe(user_id=turn.intent.user_id))
    turn.session = None
    turn.say(*say.subscribed(report.number))


def _after(turn: Turn, tapped: postback.Postback, report: Report | None) -> None:
    """満足 / 不満 / まだ直っていない under a status message: checked by the decider before
    they are written, so the resident is told plainly why a tap is not taken."""
    if report is None or report.report_id is None:
        turn.say(*say.stale())
        return
    command: Command
    if tapped.action == "rate":
        command = Rate(user_id=turn.intent.user_id, satisfied=tapped.get("s") == "1")
    else:
        command = Reopen(user_id=turn.intent.user_id, at=turn.intent.timestamp)
    try:
        report_decider.decide(command, report)
    except DomainError as exc:
        turn.say(*say.refused(str(exc)))
        return
    turn.command(report_stream(report.report_id), command)
    if isinstance(command, Rate):
        turn.say(*say.rated(command.satisfied))
    else:
        turn.say(*say.reopened(report.number))
