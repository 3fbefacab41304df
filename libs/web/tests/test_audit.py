"""The audit log helpers on a real schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.web import StaffUser, read_audit, record_view

CLERK = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))
ROADS = StaffUser("roads-clerk", "道路管理課 品川", frozenset({"roads"}))


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(fresh_database, "svc_certificates", max_size=2)
    await migrate(pool, ["cityhall.events", "cityhall.web"])
    try:
        yield pool
    finally:
        await pool.close()


async def test_record_and_read_back(pool: Pool) -> None:
    request = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        first = await record_view(
            conn, CLERK, "view_personal_data", f"certificateRequest-{request}", {"request": request}
        )
    second = await record_view(pool, CLERK, "view_id_photo", f"certificateRequest-{request}")
    await record_view(pool, ROADS, "view_report", "report-1")
    entries = await read_audit(pool, department="certificates")
    assert [e.id for e in entries] == [second, first]  # newest first
    assert entries[1].actor == "cert-clerk"
    assert entries[1].department == "certificates"
    assert entries[1].detail == {"actor_name": "証明書係 市川", "request": str(request)}
    assert entries[0].action == "view_id_photo"
    assert entries[0].at >= entries[1].at
    assert [e.action for e in await read_audit(pool, department="roads")] == ["view_report"]


async def test_paging_and_filters(pool: Pool) -> None:
    ids = [await record_view(pool, CLERK, "view", f"s-{i % 3}", department="certificates") for i in range(10)]
    page1 = await read_audit(pool, department="certificates", limit=4)
    page2 = await read_audit(pool, department="certificates", limit=4, before_id=page1[-1].id)
    assert [e.id for e in page1 + page2] == list(reversed(ids))[:8]
    assert {e.subject for e in await read_audit(pool, department="certificates", subject="s-1")} == {"s-1"}
    assert await read_audit(pool, department="certificates", actor="someone-else") == []


async def test_a_rolled_back_view_leaves_no_entry(pool: Pool) -> None:
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await record_view(conn, CLERK, "view_id_photo", "certificateRequest-x")
            raise RuntimeError("the read failed")
    assert await read_audit(pool, department="certificates") == []
