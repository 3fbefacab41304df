"""The resident's 回覧板 dialog, pure: the menu, joining (町名 → 町内会 → name → request), the
circulars received (確認しました), leaving. The officer's sign-in in LINE (招待コード, login link)
needs the officers' store and is the handler's (`handlers.Community.officer`).

`respond(turn, view)` fills the turn from the resident's session and intent and `view`, what the
handler read beforehand (the resident's memberships, the association or circular a button names).
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from cityhall.community import messages as say
from cityhall.community.domain import (
    ASSOCIATIONS,
    CIRCULARS,
    Association,
    AssociationCommand,
    Circular,
    CircularCommand,
    Leave,
    Read,
    RequestJoin,
)
from cityhall.line import dialog
from cityhall.town import district, districts


@dataclass
class Session:
    awaiting: str
    """"search" (typed words look for an association), "name" (joining `association_id`) or
    "code" (an officer's invitation code)."""
    association_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Membership:
    association_id: uuid.UUID
    name: str
    pending: bool


@dataclass
class View:
    memberships: list[Membership] = field(default_factory=list)
    officer: bool = False
    """The resident is an association's officer (signed in with a code)."""
    association: Association | None = None
    """The association a button (or the session) names."""
    circular: Circular | None = None
    """The circular a button names."""
    choices: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """The associations of the 町 a button names, or whose names have the words typed."""
    recent: list[tuple[uuid.UUID, str, str, datetime, bool]] = field(default_factory=list)
    sealed: str | None = None
    """The resident's text sealed with their key."""


MENU_WORDS = ("回覧板", "メニュー", "やめる")
"""Typed while a name is asked or searched: the menu, not a name."""

Turn = dialog.Turn[Session, AssociationCommand | CircularCommand]


def respond(turn: Turn, view: View) -> None:
    intent, session = turn.intent, turn.session
    if intent.kind == "postback":
        _tapped(turn, view)
    elif session is not None and session.awaiting == "search":
        if intent.kind == "text" and (intent.text or "").strip() not in MENU_WORDS:
            turn.say(*say.choose_association(say.searched((intent.text or "").strip()), view.choices))
        else:
            _menu(turn, view)
    elif session is None or session.awaiting != "name" or view.association is None:
        _menu(turn, view)
    elif (intent.text or "").strip() in MENU_WORDS:
        _menu(turn, view)  # the resident asked for the menu again, not to be called 回覧板
    elif intent.kind != "text" or view.sealed is None:
        turn.say(*say.text_only())
    elif len(intent.text or "") > say.MAX_NAME:
        turn.say(*say.name_too_long())
    else:
        _join(turn, view.association, view.sealed)


def _menu(turn: Turn, view: View) -> None:
    joined = [m.name for m in view.memberships if not m.pending]
    pending = [m.name for m in view.memberships if m.pending]
    turn.session = None
    turn.say(*say.menu(joined, pending, view.officer))


def _join(turn: Turn, a: Association, sealed: str) -> None:
    assert a.association_id is not None
    turn.session = None
    user_id = turn.intent.user_id
    if user_id in a.members | a.pending:
        turn.say(*say.already("already_member" if user_id in a.members else "already_requested"))
        return
    turn.command(ASSOCIATIONS.stream(a.association_id), RequestJoin(user_id=user_id, name=sealed))
    turn.say(*say.join_requested(a.name))


def _tapped(turn: Turn, view: View) -> None:
    tapped, user_id = turn.postback, turn.intent.user_id
    action = tapped.action if tapped else ""
    a, c = view.association, view.circular
    registered = a is not None and a.association_id is not None
    if action == "menu":
        _menu(turn, view)
    elif action == "cancel":
        turn.session = None
        turn.say(*say.cancelled())
    elif action == "join":
        turn.session, turn.claim = Session("search"), True  # the resident may type a name to search
        turn.say(*say.choose_district([(d.key, d.name) for d in districts()]))
    elif action == "district" and tapped and (d := district(tapped.get("d"))) is not None:
        turn.say(*say.choose_association(d.name, view.choices))
    elif action == "pick" and a is not None and registered:
        if user_id in a.members | a.pending:
            turn.say(*say.already("already_member" if user_id in a.members else "already_requested"))
        else:
            turn.session, turn.claim = Session("name", a.association_id), True
            turn.say(*say.ask_name(a.name))
    elif action == "recent":
        turn.say(*say.recent(view.recent))
    elif action == "read" and c is not None and c.circular_id is not None:
        if user_id not in c.recipients:
            turn.say(*say.not_recipient())
        elif user_id in c.readers:
            turn.say(*say.read_again(c.title))
        else:
            turn.command(CIRCULARS.stream(c.circular_id), Read(user_id=user_id))
            turn.say(*say.read_ok(c.title))
    elif action == "leave":
        turn.say(*say.choose_leave([(m.association_id, m.name) for m in view.memberships]))
    elif action in ("leave_pick", "leave_yes") and a is not None and a.association_id is not None:
        if user_id not in a.members | a.pending:
            turn.say(*say.already("not_member"))  # a second tap, or someone else's button
        elif action == "leave_pick":
            turn.say(*say.confirm_leave(a.name, a.association_id))
        else:
            turn.command(ASSOCIATIONS.stream(a.association_id), Leave(user_id=user_id))
            turn.session = None
            turn.say(*say.left(a.name))
    else:
        turn.say(*say.stale())
