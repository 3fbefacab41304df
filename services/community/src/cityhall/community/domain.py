"""The associations and their circulars, pure: commands, events and the two deciders.

- An association (stream `association-<id>`, registered by 協働推進課) has members: a resident
  asks to join (their name sealed with their key), an officer approves or declines, a member
  leaves. Asking twice, or deciding twice, changes nothing the second time.
- A circular (stream `circular-<id>`) is posted by an officer to the members of that moment
  (`recipients`); each recipient reads it once (a second 確認しました adds nothing); the unread
  are reminded at most once per `REMIND_EVERY`.

A resident is named by their LINE user id; officers by their officer account's username.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cityhall.community.messages import REFUSED
from cityhall.events import decider
from cityhall.events.envelope import Event
from cityhall.events.store import Streams
from cityhall.town import district

SOURCE = "/services/community"
ASSOCIATIONS = Streams("association", "C")
CIRCULARS = Streams("circular", "K")
REMIND_EVERY = timedelta(hours=6)
"""The shortest time between two reminders of one circular."""
MEMBERSHIPS = uuid.UUID("5d0b6c2e-8f0a-4d53-9a53-1f3e0c7d2b41")


def member_id(association_id: uuid.UUID, user_id: str) -> uuid.UUID:
    """A membership's id: what the officers' pages name a member by (never the LINE user id)."""
    return uuid.uuid5(MEMBERSHIPS, f"{association_id}/{user_id}")


class Register(decider.Command):
    association_id: uuid.UUID
    name: str
    district: str
    by: str


class RequestJoin(decider.Command):
    user_id: str
    name: str
    """Sealed with the resident's key."""


class Approve(decider.Command):
    user_id: str
    by: str


class Decline(decider.Command):
    user_id: str
    by: str


class Leave(decider.Command):
    user_id: str


AssociationCommand = Register | RequestJoin | Approve | Decline | Leave


class Post(decider.Command):
    circular_id: uuid.UUID
    association_id: uuid.UUID
    title: str
    text: str
    by: str
    recipients: list[str]


class Read(decider.Command):
    user_id: str


class Remind(decider.Command):
    by: str
    at: datetime


CircularCommand = Post | Read | Remind


class CommunityEvent(Event):
    DOMAIN = "community"


class AssociationRegistered(CommunityEvent):
    association_id: uuid.UUID
    name: str
    district: str
    by: str


class MembershipEvent(CommunityEvent):
    association_id: uuid.UUID
    user_id: str

    @property
    def member_id(self) -> uuid.UUID:
        return member_id(self.association_id, self.user_id)


class JoinRequested(MembershipEvent):
    name: str


class JoinApproved(MembershipEvent):
    by: str


class JoinDeclined(MembershipEvent):
    by: str


class MemberLeft(MembershipEvent):
    pass


class CircularPosted(CommunityEvent):
    circular_id: uuid.UUID
    association_id: uuid.UUID
    number: str
    title: str
    text: str
    by: str
    recipients: list[str]


class CircularRead(CommunityEvent):
    circular_id: uuid.UUID
    user_id: str


class ReadersReminded(CommunityEvent):
    circular_id: uuid.UUID
    user_ids: list[str]
    by: str
    at: datetime


def refused(reason: str) -> decider.DomainError:
    return decider.DomainError(reason, REFUSED[reason])


@dataclass(frozen=True)
class Association:
    association_id: uuid.UUID | None = None
    name: str = ""
    district: str = ""
    pending: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()


def decide_association(command: AssociationCommand, a: Association) -> list[Event]:
    if isinstance(command, Register):
        if a.association_id is not None:
            raise refused("already_registered")
        if not command.name.strip() or len(command.name) > 60:
            raise refused("bad_name")
        if district(command.district) is None:
            raise refused("unknown_district")
        return [AssociationRegistered(**command.model_dump())]
    if a.association_id is None:
        raise refused("no_association")
    match command:
        case RequestJoin():
            if command.user_id in a.members:
                raise refused("already_member")
            if command.user_id in a.pending:
                raise refused("already_requested")
            return [JoinRequested(association_id=a.association_id, **command.model_dump())]
        case Approve() | Decline():
            if command.user_id not in a.pending:
                raise refused("not_pending")
            kind = JoinApproved if isinstance(command, Approve) else JoinDeclined
            return [kind(association_id=a.association_id, **command.model_dump())]
        case Leave():
            if command.user_id not in a.members | a.pending:
                raise refused("not_member")
            return [MemberLeft(association_id=a.association_id, user_id=command.user_id)]
    raise AssertionError(command)


def evolve_association(a: Association, event: Event) -> Association:
    match event:
        case AssociationRegistered():
            return Association(event.association_id, event.name, event.district)
        case JoinRequested():
            return replace(a, pending=a.pending | {event.user_id})
        case JoinApproved():
            return replace(a, pending=a.pending - {event.user_id}, members=a.members | {event.user_id})
        case JoinDeclined() | MemberLeft():
            return replace(a, pending=a.pending - {event.user_id}, members=a.members - {event.user_id})
    return a


@dataclass(frozen=True)
class Circular:
    circular_id: uuid.UUID | None = None
    association_id: uuid.UUID | None = None
    title: str = ""
    recipients: frozenset[str] = frozenset()
    readers: frozenset[str] = frozenset()
    reminded_at: datetime | None = None

    @property
    def number(self) -> str:
        return CIRCULARS.number(self.circular_id) if self.circular_id else ""

    @property
    def unread(self) -> list[str]:
        return sorted(self.recipients - self.readers)


def decide_circular(command: CircularCommand, c: Circular) -> list[Event]:
    if isinstance(command, Post):
        if c.circular_id is not None:
            raise refused("already_posted")
        if not command.title.strip() or len(command.title) > 60:
            raise refused("bad_title")
        if not command.text.strip() or len(command.text) > 2000:
            raise refused("bad_text")
        if not command.recipients:
            raise refused("no_members")
        number = CIRCULARS.number(command.circular_id)
        return [CircularPosted(number=number, **command.model_dump())]
    if c.circular_id is None:
        raise refused("no_circular")
    match command:
        case Read():
            if command.user_id not in c.recipients:
                raise refused("not_recipient")
            if command.user_id in c.readers:
                return []  # a double tap: one read
            return [CircularRead(circular_id=c.circular_id, user_id=command.user_id)]
        case Remind():
            if not c.unread:
                raise refused("all_read")
            if c.reminded_at is not None and command.at < c.reminded_at + REMIND_EVERY:
                raise refused("reminded_recently")
            return [
                ReadersReminded(circular_id=c.circular_id, user_ids=c.unread, by=command.by, at=command.at)
            ]
    raise AssertionError(command)


def evolve_circular(c: Circular, event: Event) -> Circular:
    match event:
        case CircularPosted():
            recipients = frozenset(event.recipients)
            return Circular(event.circular_id, event.association_id, event.title, recipients)
        case CircularRead():
            return replace(c, readers=c.readers | {event.user_id})
        case ReadersReminded():
            return replace(c, reminded_at=event.at)
    return c


association_decider = decider.Decider[AssociationCommand, Association](
    Association(), decide_association, evolve_association
)
circular_decider = decider.Decider[CircularCommand, Circular](Circular(), decide_circular, evolve_circular)
