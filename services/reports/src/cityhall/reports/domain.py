"""The report's decider, pure: `decide(command, report) -> events`, `evolve(report, event)`.

Status: open (受付) → accepted (確認済み, shown on the public map) → in_progress (対応中) →
resolved (対応済み); or rejected (対応しない) / duplicate (another report's). A resolved report
reopens within `REOPEN_WITHIN_DAYS` at a subscriber's request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cityhall import town
from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event
from cityhall.reports.categories import CATEGORIES, DEPARTMENTS, route
from cityhall.reports.events import (
    REOPEN_WITHIN_DAYS,
    Accept,
    AddNote,
    Assign,
    Command,
    File,
    MarkDuplicate,
    Move,
    Rate,
    Reject,
    Reopen,
    ReportAccepted,
    ReportAssigned,
    ReportFiled,
    ReportMarkedDuplicate,
    ReportMoved,
    ReportNoted,
    ReportRated,
    ReportRejected,
    ReportReopened,
    ReportResolved,
    ReportStarted,
    ReportSubscribed,
    Resolve,
    Start,
    Subscribe,
    receipt_number,
)

MAX_PHOTOS = 3
MAX_TEXT = 1000

STATUSES = {
    "open": "受付",
    "accepted": "確認済み",
    "in_progress": "対応中",
    "resolved": "対応済み",
    "rejected": "対応しない",
    "duplicate": "重複",
}
OPEN = frozenset({"open", "accepted", "in_progress"})

REFUSED = {
    "already_filed": "この通報はすでに受け付けています。",
    "unknown_category": "通報の種類が正しくありません。",
    "outside_town": "その場所はポケット市の区域外です。",
    "too_many_photos": f"写真は{MAX_PHOTOS}枚までです。",
    "not_filed": "この通報は見つかりません。",
    "not_open": "この通報はすでに対応を終えているため、その操作はできません。",
    "not_new": "この通報はすでに確認済みです。",
    "self_duplicate": "同じ通報を自分自身の重複にはできません。",
    "no_reason": "理由を1〜1000文字でご入力ください。",
    "bad_text": "1〜1000文字でご入力ください。",
    "unknown_department": "移管先の課が正しくありません。",
    "same_department": "すでにその課の担当です。",
    "no_assignee": "担当者を入力してください。",
    "not_resolved": "この通報はまだ対応済みではありません。",
    "reopen_expired": f"対応済みから{REOPEN_WITHIN_DAYS}日を過ぎたため、再度の対応依頼はお受けできません。",
    "not_subscriber": "この通報の通報者ではないため、その操作はできません。",
    "already_rated": "この対応についてはすでにご回答いただいています。",
    "forgotten": "この方の個人情報は消去済みです。",
}
"""Why a command is refused, as a person reads it (the reason code travels in the page's URL)."""


def refused(reason: str) -> DomainError:
    return DomainError(reason, REFUSED[reason])


@dataclass(frozen=True)
class Report:
    report_id: uuid.UUID | None = None
    user_id: str = ""
    category: str = ""
    department: str = ""
    status: str = ""
    subscribers: frozenset[str] = frozenset()
    """The reporter and the residents who said 「同じです」: told of every change."""
    resolved_at: datetime | None = None
    rated: frozenset[str] = frozenset()
    duplicate_of: uuid.UUID | None = None

    @property
    def number(self) -> str:
        return receipt_number(self.report_id) if self.report_id else ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def _text(value: str, reason: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_TEXT:
        raise refused(reason)
    return value


def decide(command: Command, report: Report) -> list[Event]:
    if not isinstance(command, File) and report.report_id is None:
        raise refused("not_filed")
    rid = report.report_id
    match command:
        case File():
            if rid is not None:
                raise refused("already_filed")
            if command.category not in CATEGORIES:
                raise refused("unknown_category")
            if len(command.photos) > MAX_PHOTOS:
                raise refused("too_many_photos")
            district = town.district_of(town.Point(command.latitude, command.longitude))
            if district is None:
                raise refused("outside_town")
            return [
                ReportFiled(
                    number=receipt_number(command.report_id),
                    district=district.key,
                    department=route(command.category, district.key),
                    **command.model_dump(),
                )
            ]
        case Subscribe():
            if not report.is_open:
                raise refused("not_open")
            if command.user_id in report.subscribers:
                return []  # already told of every change: a second 「同じです」 changes nothing
            return [ReportSubscribed(report_id=rid, user_id=command.user_id)]
        case Accept():
            if report.status != "open":
                raise refused("not_new" if report.is_open else "not_open")
            return [ReportAccepted(report_id=rid, by=command.by)]
        case MarkDuplicate():
            if not report.is_open:
                raise refused("not_open")
            if command.of == rid:
                raise refused("self_duplicate")
            return [ReportMarkedDuplicate(report_id=rid, of=command.of, by=command.by)]
        case Reject():
            if not report.is_open:
                raise refused("not_open")
            return [ReportRejected(report_id=rid, reason=_text(command.reason, "no_reason"), by=command.by)]
        case Assign():
            if not report.is_open:
                raise refused("not_open")
            if not command.to.strip():
                raise refused("no_assignee")
            return [ReportAssigned(report_id=rid, to=command.to.strip(), by=command.by)]
        case Start():
            if report.status not in ("open", "accepted"):
                raise refused("not_open")
            return [ReportStarted(report_id=rid, by=command.by)]
        case Resolve():
            if not report.is_open:
                raise refused("not_open")
            note = command.note.strip()
            if len(note) > MAX_TEXT:
                raise refused("bad_text")
            return [
                ReportResolved(
                    report_id=rid, by=command.by, note=note, after_photo=command.after_photo, at=command.at
                )
            ]
        case Move():
            if not report.is_open:
                raise refused("not_open")
            if command.department not in DEPARTMENTS:
                raise refused("unknown_department")
            if command.department == report.department:
                raise refused("same_department")
            return [ReportMoved(report_id=rid, department=command.department, by=command.by)]
        case AddNote():
            return [ReportNoted(report_id=rid, text=_text(command.text, "bad_text"), by=command.by)]
        case Reopen():
            if command.user_id not in report.subscribers:
                raise refused("not_subscriber")
            if report.status != "resolved" or report.resolved_at is None:
                raise refused("not_resolved")
            if command.at - report.resolved_at > timedelta(days=REOPEN_WITHIN_DAYS):
                raise refused("reopen_expired")
            return [ReportReopened(report_id=rid, user_id=command.user_id)]
        case Rate():
            if command.user_id not in report.subscribers:
                raise refused("not_subscriber")
            if report.status != "resolved":
                raise refused("not_resolved")
            if command.user_id in report.rated:
                raise refused("already_rated")
            return [ReportRated(report_id=rid, user_id=command.user_id, satisfied=command.satisfied)]
    raise TypeError(f"not a report command: {command!r}")


def evolve(report: Report, event: Event) -> Report:
    match event:
        case ReportFiled():
            reporters = frozenset({event.user_id} if event.user_id else ())
            return Report(event.report_id, event.user_id, event.category, event.department, "open", reporters)
        case ReportSubscribed():
            return replace(report, subscribers=report.subscribers | {event.user_id})
        case ReportAccepted():
            return replace(report, status="accepted")
        case ReportMarkedDuplicate():
            return replace(report, status="duplicate", duplicate_of=event.of)
        case ReportRejected():
            return replace(report, status="rejected")
        case ReportStarted():
            return replace(report, status="in_progress")
        case ReportResolved():
            return replace(report, status="resolved", resolved_at=event.at, rated=frozenset())
        case ReportMoved():
            return replace(report, department=event.department)
        case ReportReopened():
            return replace(report, status="accepted", resolved_at=None)
        case ReportRated():
            return replace(report, rated=report.rated | {event.user_id})
    return report


report_decider: Decider[Command, Report] = Decider(Report(), decide, evolve)
