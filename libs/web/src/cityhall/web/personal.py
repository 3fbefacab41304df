"""Staff and residents' personal data: every read audited, forgetting in one place.

- `read_personal`: decrypt a record's sealed fields for a clerk AND write the audit entry of
  that view, in the caller's transaction (a read that is not recorded cannot happen);
- `forget_resident`: destroy the resident's key (every sealed field of theirs reads as
  `FORGOTTEN` from then on) and record who did it, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cityhall.events.db import Connection
from cityhall.events.personal import PersonalData, is_encrypted
from cityhall.web.audit import record_view
from cityhall.web.auth import StaffUser


class Viewed(dict[str, str]):
    """The fields in clear (`FORGOTTEN` for a forgotten resident's), by name, and `entry`: the
    audit entry of the view (None: nothing was sealed, nothing was shown)."""

    def __init__(self, values: Mapping[str, str], entry: int | None) -> None:
        super().__init__(values)
        self.entry = entry


async def read_personal(
    conn: Connection,
    personal: PersonalData,
    user: StaffUser,
    action: str,
    subject: str,
    sealed: Mapping[str, str | None],
    detail: Mapping[str, Any] | None = None,
    *,
    department: str | None = None,
) -> Viewed:
    """Decrypt the sealed fields among `sealed` (name -> token; empty and clear ones are left
    out) for `user`, and record `action` on `subject` with `detail` and the names of the fields
    shown. Call it inside a transaction: the read and its record commit together."""
    values = {
        name: await personal.decrypt(token, conn=conn)
        for name, token in sealed.items()
        if token and is_encrypted(token)
    }
    if not values:
        return Viewed(values, None)
    entry = await record_view(
        conn, user, action, subject, {**(detail or {}), "fields": list(values)}, department=department
    )
    return Viewed(values, entry)


async def forget_resident(
    conn: Connection,
    personal: PersonalData,
    user: StaffUser,
    resident: str,
    detail: Mapping[str, Any] | None = None,
    *,
    department: str | None = None,
) -> bool:
    """Crypto-shred `resident` (their key goes) and record it as `forget_resident` on
    `resident-<id>`; True when they had a key. Call it inside a transaction with whatever else
    forgetting them deletes (photos), so it is all or nothing."""
    had_key = await personal.forget(resident, conn=conn)
    await record_view(conn, user, "forget_resident", f"resident-{resident}", detail, department=department)
    return had_key
