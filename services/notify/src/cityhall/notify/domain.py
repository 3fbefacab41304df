"""The friend registry's decider: whether a resident follows the account or has blocked it.

One stream per resident (`friend-<userId>`). Follow and unfollow are idempotent, and a
webhook older than the last change (LINE may redeliver late) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cityhall.events.decider import Decider
from cityhall.events.envelope import Event
from cityhall.notify.events import Follow, FriendCommand, FriendFollowed, FriendUnfollowed, Unfollow

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
