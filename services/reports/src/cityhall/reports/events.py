"""reports' commands and events. A report (stream `report-<id>`, on `events.reports`) is filed
once, by a resident in LINE or a client of Open311, then worked by its department's staff.

The point is in clear: it is where the defect is (routing, duplicates and the public map need
it). What the resident wrote or photographed is not: the comment and LINE's address are tokens
sealed with the resident's key, the photos are sealed rows of `report_photos` (events carry
their ids), so `forget` shreds them all.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cityhall.events.envelope import Event, registry

SOURCE = "/services/reports"
REOPEN_WITHIN_DAYS = 14


def report_stream(report_id: uuid.UUID) -> str:
    return f"report-{report_id}"


def receipt_number(report_id: uuid.UUID) -> str:
    """What the resident and the clerk quote: short, and the same wherever it is shown."""
    return "R-" + report_id.hex[:8].upper()


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True)


class File(_Command):
    report_id: uuid.UUID
    user_id: str
    """The LINE user who reports; "" for a report from Open311."""
    category: str
    latitude: float
    longitude: float
    photos: tuple[uuid.UUID, ...] = ()
    comment: str = ""
    """Sealed with the reporter's key."""
    address: str = ""
    """Sealed: the address LINE's location message gave."""
    channel: str = "line"
    at: datetime


class Subscribe(_Command):
    user_id: str


class Accept(_Command):
    by: str


class MarkDuplicate(_Command):
    of: uuid.UUID
    by: str


class Reject(_Command):
    reason: str
    by: str


class Assign(_Command):
    to: str
    by: str


class Start(_Command):
    by: str


class Resolve(_Command):
    by: str
    note: str = ""
    after_photo: uuid.UUID | None = None
    at: datetime


class Move(_Command):
    department: str
    by: str


class AddNote(_Command):
    text: str
    by: str


class Reopen(_Command):
    user_id: str
    at: datetime


class Rate(_Command):
    user_id: str
    satisfied: bool


Command = (
    File
    | Subscribe
    | Accept
    | MarkDuplicate
    | Reject
    | Assign
    | Start
    | Resolve
    | Move
    | AddNote
    | Reopen
    | Rate
)


@registry.register
class ReportFiled(Event):
    TYPE = "cityhall.reports.report_filed.v1"
    report_id: uuid.UUID
    number: str
    user_id: str
    category: str
    district: str
    department: str
    latitude: float
    longitude: float
    photos: list[uuid.UUID] = Field(default_factory=list)
    comment: str = ""
    address: str = ""
    channel: str = "line"
    at: datetime


@registry.register
class ReportSubscribed(Event):
    TYPE = "cityhall.reports.report_subscribed.v1"
    report_id: uuid.UUID
    user_id: str


@registry.register
class ReportAccepted(Event):
    TYPE = "cityhall.reports.report_accepted.v1"
    report_id: uuid.UUID
    by: str


@registry.register
class ReportMarkedDuplicate(Event):
    TYPE = "cityhall.reports.report_marked_duplicate.v1"
    report_id: uuid.UUID
    of: uuid.UUID
    by: str


@registry.register
class ReportRejected(Event):
    TYPE = "cityhall.reports.report_rejected.v1"
    report_id: uuid.UUID
    reason: str
    by: str


@registry.register
class ReportAssigned(Event):
    TYPE = "cityhall.reports.report_assigned.v1"
    report_id: uuid.UUID
    to: str
    by: str


@registry.register
class ReportStarted(Event):
    TYPE = "cityhall.reports.report_started.v1"
    report_id: uuid.UUID
    by: str


@registry.register
class ReportResolved(Event):
    TYPE = "cityhall.reports.report_resolved.v1"
    report_id: uuid.UUID
    by: str
    note: str = ""
    after_photo: uuid.UUID | None = None
    at: datetime


@registry.register
class ReportMoved(Event):
    TYPE = "cityhall.reports.report_moved.v1"
    report_id: uuid.UUID
    department: str
    by: str


@registry.register
class ReportNoted(Event):
    TYPE = "cityhall.reports.report_noted.v1"
    report_id: uuid.UUID
    text: str
    by: str


@registry.register
class ReportReopened(Event):
    TYPE = "cityhall.reports.report_reopened.v1"
    report_id: uuid.UUID
    user_id: str


@registry.register
class ReportRated(Event):
    TYPE = "cityhall.reports.report_rated.v1"
    report_id: uuid.UUID
    user_id: str
    satisfied: bool
