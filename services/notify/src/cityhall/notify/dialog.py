"""notify's part of the conversation: the welcome on follow, the 使い方 guide, 配信設定.

Pure. `respond(intent)`: an intent in, a friend command and the messages to answer with out.
`settings(turn, prefs, today)`: the 配信設定 dialog, the resident's preferences in, the turn
filled and the preferences to store out. The messages go out as a reply through notify's own
outbound path (see handlers.py).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from linebot.v3.messaging import Message

from cityhall.line import dialog, postback
from cityhall.line.contracts import Location, ResidentIntent
from cityhall.notify import messages as say
from cityhall.notify import town
from cityhall.notify.events import Follow, FriendCommand, Unfollow
from cityhall.notify.preferences import (
    INTERESTS,
    LANGUAGES,
    MAX_CHILDREN,
    QUIET_CHOICES,
    Preferences,
    birth_month_allowed,
    month_index,
)


@dataclass(frozen=True)
class Response:
    command: FriendCommand | None = None
    messages: list[Message] = field(default_factory=list)
    release_dialog: bool = False
    """Hand the resident's free text back to the guide (a notify postback put them in our dialog)."""


def respond(intent: ResidentIntent, *, disaster: bool = False) -> Response:
    """What notify does for an intent routed to it (`disaster`: disaster mode is on)."""
    match intent.kind:
        case "follow":
            follow = intent.raw.get("follow")
            returning = isinstance(follow, dict) and follow.get("isUnblocked") is True
            return Response(
                Follow(user_id=intent.user_id, at=intent.timestamp),
                say.welcome(returning=returning, disaster=disaster),
            )
        case "unfollow":
            # A resident who blocked the account cannot be answered.
            return Response(Unfollow(user_id=intent.user_id, at=intent.timestamp))
        case "postback":
            tapped = postback.decode(intent.postback_data)
            match tapped.action if tapped else None:
                case "howto":
                    return Response(messages=say.howto(), release_dialog=True)
                case _:
                    return Response(messages=say.howto(), release_dialog=True)
        case _:
            return Response(messages=say.not_understood(), release_dialog=True)


# --- the disaster menu's tiles ----------------------------------------------------------------

DISASTER_ACTIONS = frozenset({"safety_now", "alerts"})
"""The disaster menu's tiles notify answers (`spec.py`)."""


def disaster_tile(intent: ResidentIntent) -> str | None:
    """The disaster menu tile an intent taps, if it is one of notify's."""
    if intent.kind != "postback":
        return None
    tapped = postback.decode(intent.postback_data)
    return tapped.action if tapped is not None and tapped.action in DISASTER_ACTIONS else None


def disaster(action: str, check: tuple[uuid.UUID, str] | None, alerts: list[dict[str, Any]]) -> list[Message]:
    """安否確認: the newest safety check with its answer buttons (the safety check's own flow
    follows); 災害情報: the recent emergency alerts. Each says so when there is none."""
    if action == "safety_now":
        return say.safety_check(*check) if check is not None else say.no_safety_check()
    return say.recent_alerts(alerts)


# --- 配信設定 ------------------------------------------------------------------------------


@dataclass
class Session:
    """Where a resident is in the 配信設定 dialog (a row of `notify_sessions`)."""

    awaiting: str
    """"menu", "child" (a birth month as text), "moved_in" (a date as text), or "safety"."""
    safety: str = ""
    """The 安否確認 (its id, hex) whose details the resident is sending."""


Turn = dialog.Turn[Session, FriendCommand]

SETTINGS_ACTIONS = frozenset(
    {"settings", "s_district", "s_interests", "s_children", "s_moved_in", "s_language", "s_quiet",
     "set_district", "toggle", "add_child", "del_child", "set_moved_in", "set_language", "set_quiet",
     "done"}
)  # fmt: skip

_ERAS = {"令和": 2018, "平成": 1988}
_MONTH = re.compile(r"^(令和|平成)?\s*(\d{1,4})\s*[年/\-.]\s*(\d{1,2})\s*月?(?:生まれ|予定)?$")
_DATE = re.compile(r"^(令和|平成)?\s*(\d{1,4})\s*[年/\-.]\s*(\d{1,2})\s*[月/\-.]\s*(\d{1,2})\s*日?$")


def _year(era: str | None, year: str) -> int:
    return _ERAS[era] + int(year) if era else int(year)


def parse_month(text: str) -> int | None:
    """「2023年5月」「2023/5」「令和5年5月」… as a month index; None when it is none of those."""
    found = _MONTH.match(unicodedata.normalize("NFKC", text).strip())
    if not found or not 1 <= int(found.group(3)) <= 12:
        return None
    return month_index(_year(found.group(1), found.group(2)), int(found.group(3)))


def parse_date(text: str) -> date | None:
    found = _DATE.match(unicodedata.normalize("NFKC", text).strip())
    if not found:
        return None
    try:
        return date(_year(found.group(1), found.group(2)), int(found.group(3)), int(found.group(4)))
    except ValueError:
        return None


def in_settings(intent: ResidentIntent, session: Session | None) -> bool:
    """Whether the 配信設定 dialog answers `intent` (its buttons, or text while it is open)."""
    if intent.kind == "postback":
        tapped = postback.decode(intent.postback_data)
        return tapped is not None and tapped.action in SETTINGS_ACTIONS
    return session is not None and not session.safety and intent.kind not in ("follow", "unfollow")


# --- 安否確認 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyAnswer:
    """What to record of a resident's answer to a check (fields left None stay as they were)."""

    check_id: uuid.UUID
    status: str | None = None
    """"safe" or "help"."""
    note: str | None = None
    location: Location | None = None


def safety_named(intent: ResidentIntent, session: Session | None) -> uuid.UUID | None:
    """The check an intent answers: its button's, or the one whose details are awaited."""
    if intent.kind == "postback":
        tapped = postback.decode(intent.postback_data)
        if tapped is None or tapped.action != "safety":
            return None
        key = tapped.get("k")
    elif session is not None and session.safety and intent.kind not in ("follow", "unfollow"):
        key = session.safety
    else:
        return None
    try:
        return uuid.UUID(hex=key)
    except ValueError:
        return uuid.UUID(int=0)  # a forged key: answered as unknown


def safety(turn: Turn, check_id: uuid.UUID, *, known: bool) -> SafetyAnswer | None:
    """Fill `turn` for an answer to check `check_id` (`known`: it exists); what to record."""
    intent = turn.intent
    if not known:
        turn.session = None
        turn.say(*say.safety_stale())
        return None
    if intent.kind == "postback":
        tapped = postback.decode(intent.postback_data)
        choice = tapped.get("s") if tapped else ""
        if choice == "safe":
            turn.session = None
            turn.say(*say.safe_recorded())
            return SafetyAnswer(check_id, status="safe")
        if choice == "help":
            turn.session, turn.claim = Session("safety", safety=check_id.hex), True
            turn.say(*say.ask_help_details(check_id))
            return SafetyAnswer(check_id, status="help")
        turn.session = None
        turn.say(*say.help_done())
        return None
    turn.session, turn.claim = Session("safety", safety=check_id.hex), True
    if intent.kind == "text" and (intent.text or "").strip():
        turn.say(*say.help_noted(check_id, "状況"))
        return SafetyAnswer(check_id, note=(intent.text or "").strip()[:1000])
    if intent.kind == "location" and intent.location is not None:
        turn.say(*say.help_noted(check_id, "位置情報"))
        return SafetyAnswer(check_id, location=intent.location)
    turn.say(*say.safety_use_buttons(check_id))
    return None


def settings(turn: Turn, prefs: Preferences, today: date) -> Preferences | None:
    """Fill `turn` for an intent of the 配信設定 dialog; the preferences to store, or None."""
    intent, previous = turn.intent, turn.session
    turn.session, turn.claim = Session("menu"), True
    if intent.kind == "postback":
        tapped = postback.decode(intent.postback_data)
        assert tapped is not None  # in_settings said so
        return _tapped(turn, tapped, intent.postback_params or {}, prefs, today)
    awaiting = previous.awaiting if previous else "menu"
    text = (intent.text or "").strip() if intent.kind == "text" else ""
    if text == "配信設定":
        turn.say(*say.menu(prefs, today))
    elif awaiting == "child":
        return _add_child(turn, parse_month(text), prefs, today)
    elif awaiting == "moved_in":
        return _moved_in(turn, parse_date(text), prefs, today)
    else:
        turn.say(*say.use_buttons())
    return None


def _tapped(
    turn: Turn, tapped: postback.Postback, params: dict[str, str], prefs: Preferences, today: date
) -> Preferences | None:
    match tapped.action:
        case "settings":
            turn.say(*say.menu(prefs, today))
        case "s_district":
            turn.say(*say.ask_district())
        case "s_interests":
            turn.say(*say.ask_interests(prefs))
        case "s_children":
            turn.session = Session("child")
            turn.say(*say.ask_children(prefs, today))
        case "s_moved_in":
            turn.session = Session("moved_in")
            turn.say(*say.ask_moved_in(today))
        case "s_language":
            turn.say(*say.ask_language())
        case "s_quiet":
            turn.say(*say.ask_quiet())
        case "set_district" if tapped.get("d") in town.BY_KEY:
            district = town.BY_KEY[tapped.get("d")]
            return _changed(turn, replace(prefs, district=district.key), today, say.district_set(district))
        case "toggle" if tapped.get("i") in INTERESTS:
            changed = prefs.toggled(tapped.get("i"))
            turn.say(*say.ask_interests(changed))
            return changed
        case "add_child":
            chosen = _picked(params)
            return _add_child(turn, month_index(chosen.year, chosen.month) if chosen else None, prefs, today)
        case "del_child" if tapped.get("m").isdigit():
            removed = int(tapped.get("m"))
            if removed not in prefs.children:
                turn.say(*say.ask_children(prefs, today))
                return None
            changed = replace(prefs, children=tuple(c for c in prefs.children if c != removed))
            turn.session = Session("child")
            turn.say(*say.ask_children(changed, today))
            return changed
        case "set_moved_in":
            if tapped.get("none"):
                return _changed(turn, replace(prefs, moved_in=None), today, say.moved_in_set(None))
            return _moved_in(turn, _picked(params), prefs, today)
        case "set_language" if tapped.get("l") in LANGUAGES:
            language = tapped.get("l")
            return _changed(turn, replace(prefs, language=language), today, say.language_set(language))
        case "set_quiet" if tapped.get("q") == "none" or _quiet(tapped.get("q")) in QUIET_CHOICES:
            quiet = _quiet(tapped.get("q"))
            return _changed(turn, replace(prefs, quiet=quiet), today, say.quiet_set(quiet))
        case "done":
            turn.session = None
            turn.say(*say.saved(prefs, today))
        case _:
            # A forged or outdated button: nothing changes, and the resident is told so.
            turn.say(*say.stale())
    return None


def _quiet(value: str) -> tuple[int, int] | None:
    start, _, end = value.partition("-")
    return (int(start), int(end)) if start.isdigit() and end.isdigit() else None


def _picked(params: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(params.get("date", ""))
    except ValueError:
        return None


def _changed(turn: Turn, prefs: Preferences, today: date, lead: str) -> Preferences:
    turn.session = Session("menu")
    turn.say(*say.menu(prefs, today, lead=lead))
    return prefs


def _add_child(turn: Turn, month: int | None, prefs: Preferences, today: date) -> Preferences | None:
    if month is None or not birth_month_allowed(month, today):
        turn.session = Session("child")
        turn.say(*say.bad_month(today))
        return None
    if month in prefs.children:
        turn.session = Session("child")
        turn.say(*say.ask_children(prefs, today))
        return None
    if len(prefs.children) >= MAX_CHILDREN:
        turn.say(*say.too_many_children())
        return None
    changed = replace(prefs, children=tuple(sorted((*prefs.children, month))))
    turn.session = Session("child")
    turn.say(*say.ask_children(changed, today))
    return changed


def _moved_in(turn: Turn, moved_in: date | None, prefs: Preferences, today: date) -> Preferences | None:
    if moved_in is None or moved_in > today or moved_in.year < today.year - 20:
        turn.session = Session("moved_in")
        turn.say(*say.bad_date(today))
        return None
    return _changed(turn, replace(prefs, moved_in=moved_in), today, say.moved_in_set(moved_in))
