"""The staff desk: what clerks decide from the dashboard (approve, reject, issue, mail, forget).

Each decision is a command on the request's stream, recorded in the audit log with who and
when in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cityhall.certificates.catalogue import Catalogue
from cityhall.certificates.domain import Request
from cityhall.certificates.events import Approve, Command, Issue, Mail, Reject, request_stream
from cityhall.events.db import Pool
from cityhall.events.decider import CommandHandler, Decision, DomainError
from cityhall.events.personal import PersonalData
from cityhall.line.content import PhotoStore
from cityhall.web import StaffUser, record_view
from cityhall.web.personal import forget_resident

DEPARTMENT = "certificates"


class Desk:
    """What clerks do from the dashboard. Each decision is audited with who and when."""

    def __init__(
        self,
        pool: Pool,
        requests: CommandHandler[Command, Request],
        catalogue: Catalogue,
        personal: PersonalData,
        photos: PhotoStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.pool = pool
        self.requests = requests
        self.catalogue = catalogue
        self.personal = personal
        self.photos = photos
        self.clock = clock

    async def _decide(
        self, user: StaffUser, request_id: uuid.UUID, command: Command, action: str, detail: dict[str, Any]
    ) -> Decision[Request]:
        stream = request_stream(request_id)
        async with self.pool.acquire() as conn, conn.transaction():
            state, _version = await self.requests.load(stream, conn=conn)
            if state.status == "new":
                raise DomainError("not_started", "no such request")
            decision = await self.requests.handle(stream, command, conn=conn)
            await record_view(conn, user, action, stream, detail, department=DEPARTMENT)
        return decision

    async def approve(self, user: StaffUser, request_id: uuid.UUID) -> Decision[Request]:
        return await self._decide(
            user, request_id, Approve(by=user.username, at=self.clock()), "approve_identity", {}
        )

    async def reject(
        self, user: StaffUser, request_id: uuid.UUID, reason_code: str, note: str
    ) -> Decision[Request]:
        reason = self.catalogue.rejection_reason(reason_code)
        if reason is None:
            raise DomainError("reason_required", "choose a reason from the list")
        command = Reject(
            by=user.username,
            reason_code=reason.code,
            reason_label=reason.label,
            note=note[:500],
            at=self.clock(),
        )
        return await self._decide(user, request_id, command, "reject_identity", {"reason": reason.code})

    async def issue(self, user: StaffUser, request_id: uuid.UUID, serial: str) -> Decision[Request]:
        command = Issue(serial=serial[:64], by=user.username, at=self.clock())
        return await self._decide(
            user, request_id, command, "issue_certificate", {"serial": serial.strip()[:64]}
        )

    async def mail(self, user: StaffUser, request_id: uuid.UUID, tracking_number: str) -> Decision[Request]:
        command = Mail(tracking_number=tracking_number[:64], by=user.username, at=self.clock())
        return await self._decide(
            user, request_id, command, "mail_certificate", {"tracking_number": tracking_number.strip()[:64]}
        )

    async def forget(self, user: StaffUser, resident: str, *, number: str | None = None) -> int:
        """Crypto-shred a resident: their key goes (every personal field unreadable), photos deleted.
        `number`: the request the resident was found by, kept in the audit log."""
        async with self.pool.acquire() as conn, conn.transaction():
            deleted = await self.photos.delete_resident(conn, resident)
            detail = {"photos_deleted": deleted} | ({"number": number} if number else {})
            await forget_resident(conn, self.personal, user, resident, detail, department=DEPARTMENT)
        return deleted
