"""notify's deciders.

Friends: whether a resident follows the account or has blocked it. One stream per resident
(`friend-<userId>`). Follow and unfollow are idempotent, and a webhook older than the last
change (LINE may redeliver late) changes nothing.

Disaster mode (`disasterMode-town`): on or off; switching it to what it is already changes
nothing.

Notices (`notice-<id>`): drafted by an author, approved by someone else (approving twice
changes nothing, so a notice is sent once), cancelled (what was sent stays sent), completed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event
from cityhall.line.contracts import DisasterModeSwitched
from cityhall.notify.events import (
    ApproveNotice,
    CancelNotice,
    CompleteNotice,
    DraftNotice,
    Follow,
    FriendCommand,
    FriendFollowed,
    FriendUnfollowed,
    NoticeApproved,
    NoticeCancelled,
    NoticeCommand,
    NoticeCompleted,
    NoticeDrafted,
    SwitchDisasterMode,
    Unfollow,
)

FriendStatus = Literal["unknown", "following", "blocked"]


@dataclass(frozen=True)
class Friend:
    status: FriendStatus = "unknown"
    """"unknown": no follow or unfollow seen (e.g. a friend from before this system): sent to."""
    since: datetime | None = None

    @property
    def reachable(self) -> bool:
        """Whether pushes and multicasts may go to this resident."""
        return self.status != "blocked"


def friend_stream(user_id: str) -> str:
    return f"friend-{user_id}"


def decide(command: FriendCommand, state: Friend) -> Sequence[Event]:
    if state.since is not None and command.at < state.since:
        return []  # an older webhook arriving late
    match command:
        case Follow():
            if state.status == "following":
                return []
            return [FriendFollowed(user_id=command.user_id, at=command.at)]
        case Unfollow():
            if state.status == "blocked":
                return []
            return [FriendUnfollowed(user_id=command.user_id, at=command.at)]
    raise TypeError(f"not a friend command: {command!r}")


def evolve(state: Friend, event: Event) -> Friend:
    match event:
        case FriendFollowed():
            return Friend("following", event.at)
        case FriendUnfollowed():
            return Friend("blocked", event.at)
    return state


friend_decider: Decider[FriendCommand, Friend] = Decider(Friend(), decide, evolve)


# --- notices -------------------------------------------------------------------------------

NoticeStatus = Literal["new", "draft", "approved", "cancelled", "completed"]

REFUSED: dict[str, str] = {
    "exists": "このお知らせはすでに作成されています。",
    "not_drafted": "このお知らせは見つかりません。",
    "own_draft": "自分で作成したお知らせは承認できません。別の担当者が承認してください。",
    "cancelled": "このお知らせは取り消されています。",
    "completed": "このお知らせは送信を終えています。",
}
"""Why a command on a notice is refused, for staff (the reason travels in the page's URL)."""


def refused(reason: str) -> DomainError:
    return DomainError(reason, REFUSED[reason])


@dataclass(frozen=True)
class Notice:
    status: NoticeStatus = "new"
    notice_id: uuid.UUID | None = None
    author: str = ""
    approved_by: str = ""
    finished: bool = False
    """No chunk is left to send (a cancelled notice finishes too, with what it sent)."""


def decide_notice(command: NoticeCommand, state: Notice) -> Sequence[Event]:
    match command:
        case DraftNotice():
            if state.status != "new":
                raise refused("exists")
            return [NoticeDrafted(**command.model_dump())]
    if state.notice_id is None:
        raise refused("not_drafted")
    notice_id = state.notice_id
    match command:
        case ApproveNotice():
            if state.status in ("approved", "completed"):
                return []  # approved twice: sent once
            if state.status == "cancelled":
                raise refused("cancelled")
            if command.by == state.author:
                raise refused("own_draft")
            send_at = max(command.send_at or command.at, command.at)
            return [
                NoticeApproved(
                    notice_id=notice_id, by=command.by, at=command.at, send_at=send_at, weekly=command.weekly
                )
            ]
        case CancelNotice():
            if state.status == "cancelled":
                return []
            if state.finished:
                raise refused("completed")
            return [NoticeCancelled(notice_id=notice_id, by=command.by, at=command.at)]
        case CompleteNotice():
            if state.status not in ("approved", "cancelled") or state.finished:
                return []
            return [NoticeCompleted(notice_id=notice_id, **command.model_dump())]
    raise TypeError(f"not a notice command: {command!r}")


def evolve_notice(state: Notice, event: Event) -> Notice:
    match event:
        case NoticeDrafted():
            return Notice("draft", event.notice_id, event.author)
        case NoticeApproved():
            return replace(state, status="approved", approved_by=event.by)
        case NoticeCancelled():
            return replace(state, status="cancelled")
        case NoticeCompleted():
            return replace(
                state, status="cancelled" if state.status == "cancelled" else "completed", finished=True
            )
    return state


notice_decider: Decider[NoticeCommand, Notice] = Decider(Notice(), decide_notice, evolve_notice)


# --- disaster mode ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DisasterMode:
    on: bool = False
    by: str = ""
    reason: str = ""
    since: datetime | None = None


def decide_disaster(command: SwitchDisasterMode, state: DisasterMode) -> Sequence[Event]:
    if command.on == state.on:
        return []  # switched on twice: the menus changed once
    return [DisasterModeSwitched(**command.model_dump())]


def evolve_disaster(state: DisasterMode, event: Event) -> DisasterMode:
    if isinstance(event, DisasterModeSwitched):
        return DisasterMode(event.on, event.by, event.reason, event.at)
    return state


disaster_decider: Decider[SwitchDisasterMode, DisasterMode] = Decider(
    DisasterMode(), decide_disaster, evolve_disaster
)
