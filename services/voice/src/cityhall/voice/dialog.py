"""The opinion dialog, pure: tile → the opinion's text → its category → 送信 / やめる → receipt.

`respond(turn, opinion=..., sealed=...)` fills the turn (session, command, replies) from the
resident's session and intent; the handler fetched what it needs beforehand: the opinion a
button names (`opinion`) and the resident's text sealed with their key (`sealed`).
"""

import uuid
from dataclasses import dataclass, replace

from cityhall.line import dialog
from cityhall.voice import messages as say
from cityhall.voice.domain import Command, Opinion, Submit, opinion_stream


@dataclass
class Session:
    opinion_id: uuid.UUID
    awaiting: str
    """"text", "category" or "confirm"."""
    category: str = ""
    draft: str = ""
    """The opinion's text, sealed with the resident's key."""


Turn = dialog.Turn[Session, Command]


def respond(turn: Turn, *, opinion: Opinion | None = None, sealed: str | None = None) -> None:
    intent, session = turn.intent, turn.session
    if intent.kind == "postback":
        _tapped(turn, opinion)
    elif session is None:
        turn.say(*say.stale())
        turn.release = True
    elif session.awaiting != "text":
        turn.say(*say.use_buttons(session.opinion_id))
    elif intent.kind != "text" or sealed is None:
        turn.say(*say.text_only(session.opinion_id))
    elif len(intent.text or "") > say.MAX_TEXT:
        turn.say(*say.text_too_long(session.opinion_id))
    else:
        turn.session = replace(session, awaiting="category", draft=sealed)
        turn.say(*say.ask_category(session.opinion_id))


def _tapped(turn: Turn, opinion: Opinion | None) -> None:
    session, tapped = turn.session, turn.postback
    action = tapped.action if tapped else ""
    # The step of the draft the button belongs to; None for another draft's button or a forged one.
    step = session.awaiting if session and tapped and session.opinion_id == tapped.uuid("o") else None
    if action == "menu":
        opinion_id = uuid.uuid5(uuid.NAMESPACE_URL, f"voice:{turn.intent.webhook_event_id}")
        turn.session, turn.claim = Session(opinion_id, "text"), True
        turn.say(*say.ask_text(opinion_id))
    elif session and step and action == "cancel":
        turn.session = None
        turn.say(*say.cancelled())
    elif session and tapped and step == action == "category":
        turn.session = replace(session, awaiting="confirm", category=tapped.get("c"))
        turn.say(*say.confirm(session.opinion_id, tapped.get("c")))
    elif session and step == "confirm" and action == "send":
        s, user_id = session, turn.intent.user_id
        turn.command(
            opinion_stream(s.opinion_id),
            Submit(opinion_id=s.opinion_id, user_id=user_id, category=s.category, text=s.draft),
        )
        turn.session = None
        turn.say(*say.received(Opinion(s.opinion_id).number))
    elif opinion is not None and opinion.opinion_id is not None:
        # A double tap or a replayed button: the opinion is already in; someone else's: refused.
        mine = opinion.user_id == turn.intent.user_id
        turn.say(*(say.already_sent(opinion.number) if mine else say.not_yours()))
    else:
        turn.say(*say.stale())
