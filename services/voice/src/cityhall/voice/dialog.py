"""The opinion dialog, pure: tile → the opinion's text → its category → 送信 / やめる → receipt.

`respond(turn, opinion=..., sealed=...)` fills the turn (session, command, replies) from the
resident's session and intent; the handler fetched what it needs beforehand: the opinion a
button names (`opinion`) and the resident's text sealed with their key (`sealed`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from cityhall.line import dialog, postback
from cityhall.voice import messages as say
from cityhall.voice.domain import Opinion
from cityhall.voice.events import Command, Submit, opinion_stream


@dataclass
class Session:
    opinion_id: uuid.UUID
    awaiting: str
    """"text", "category" or "confirm"."""
    category: str = ""
    draft: str = ""
    """The opinion's text, sealed with the resident's key."""


Turn = dialog.Turn[Session, Command]


def named_opinion(intent_data: str | None) -> uuid.UUID | None:
    """The opinion a button's data names (`o`), if it names one well-formed."""
    tapped = postback.decode(intent_data)
    try:
        return uuid.UUID(hex=tapped.get("o")) if tapped else None
    except ValueError:
        return None


def respond(turn: Turn, *, opinion: Opinion | None = None, sealed: str | None = None) -> None:
    intent, session = turn.intent, turn.session
    if intent.kind == "postback":
        _tapped(turn, postback.decode(intent.postback_data), opinion)
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


def _tapped(turn: Turn, tapped: postback.Postback | None, opinion: Opinion | None) -> None:
    session, action = turn.session, tapped.action if tapped else ""
    if action == "menu":
        opinion_id = uuid.uuid5(uuid.NAMESPACE_URL, f"voice:{turn.intent.webhook_event_id}")
        turn.session, turn.claim = Session(opinion_id, "text"), True
        turn.say(*say.ask_text(opinion_id))
        return
    current = session is not None and session.opinion_id == named_opinion(turn.intent.postback_data)
    if action == "cancel" and current:
        turn.session = None
        turn.say(*say.cancelled())
    elif action == "category" and current and session and session.awaiting == "category":
        turn.session = replace(session, awaiting="confirm", category=tapped.get("c") if tapped else "")
        turn.say(*say.confirm(session.opinion_id, turn.session.category))
    elif action == "send" and current and session and session.awaiting == "confirm":
        turn.command(
            opinion_stream(session.opinion_id),
            Submit(opinion_id=session.opinion_id, user_id=turn.intent.user_id, category=session.category,
                   text=session.draft),
        )  # fmt: skip
        turn.session = None
        turn.say(*say.received(Opinion(session.opinion_id).number))
    elif opinion is not None and opinion.opinion_id is not None:
        # A double tap or a replayed button: the opinion is already in; someone else's: refused.
        mine = opinion.user_id == turn.intent.user_id
        turn.say(*(say.already_sent(opinion.number) if mine else say.not_yours()))
    else:
        turn.say(*say.stale())
