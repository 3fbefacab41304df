"""The audit log helpers on a real schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.personal import FORGOTTEN, PersonalData
from cityhall.web import StaffUser, actor_names, read_audit, record_view
from cityhall.web.personal import Viewed, forget_resident, read_personal

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


async def test_filters_by_action_and_period(pool: Pool) -> None:
    viewed = await record_view(pool, CLERK, "view_personal_data", "s-1", department="certificates")
    approved = await record_view(pool, CLERK, "approve_identity", "s-1", department="certificates")
    await pool.execute("UPDATE audit_log SET at = at - interval '3 days' WHERE id = $1", viewed)
    entries = await read_audit(pool, department="certificates", action="approve_identity")
    assert [e.id for e in entries] == [approved]
    old = (await read_audit(pool, department="certificates", action="view_personal_data"))[0].at
    around_old = await read_audit(
        pool, department="certificates", since=old - timedelta(hours=1), until=old + timedelta(hours=1)
    )
    assert [e.id for e in around_old] == [viewed]
    assert [
        e.id for e in await read_audit(pool, department="certificates", since=old + timedelta(days=1))
    ] == [approved]
    assert await read_audit(pool, department="certificates", until=old) == []  # until is exclusive


async def test_a_read_the_page_triggers_joins_the_pages_entry(pool: Pool) -> None:
    page = await record_view(
        pool,
        CLERK,
        "view_personal_data",
        "req-1",
        {"number": "C-1", "fields": ["name"]},
        department="certificates",
    )
    photo = {"number": "C-1", "photo_id": "p-1"}
    joined = await record_view(
        pool, CLERK, "view_id_photo", "req-1", photo, department="certificates", part_of=page
    )
    assert joined == page
    [entry] = await read_audit(pool, department="certificates")
    assert entry.action == "view_personal_data"
    assert entry.detail == {
        "actor_name": "証明書係 市川",
        "number": "C-1",
        "fields": ["name"],
        "photo_id": "p-1",
    }

    # The same id again (the photo opened once more), another person's id, another subject's,
    # or a stale one: each is a view of its own.
    again = await record_view(
        pool, CLERK, "view_id_photo", "req-1", photo, department="certificates", part_of=page
    )
    other = StaffUser("cert-clerk2", "証明書係 浦安", frozenset({"certificates"}))
    theirs = await record_view(
        pool, other, "view_id_photo", "req-1", photo, department="certificates", part_of=page
    )
    elsewhere = await record_view(
        pool, CLERK, "view_id_photo", "req-2", {"photo_id": "p-2"}, department="certificates", part_of=page
    )
    stale = await record_view(
        pool, CLERK, "view_personal_data", "req-3", {"fields": []}, department="certificates"
    )
    await pool.execute("UPDATE audit_log SET at = at - interval '1 hour' WHERE id = $1", stale)
    late = await record_view(
        pool, CLERK, "view_id_photo", "req-3", {"photo_id": "p-3"}, department="certificates", part_of=stale
    )
    assert len({page, again, theirs, elsewhere, stale, late}) == 6
    assert [e.action for e in await read_audit(pool, department="certificates", subject="req-1")] == [
        "view_id_photo",
        "view_id_photo",
        "view_personal_data",
    ]


async def test_actor_names_are_the_latest_name_each_person_was_logged_with(pool: Pool) -> None:
    await record_view(pool, CLERK, "approve_identity", "s-1", department="certificates")
    renamed = StaffUser("cert-clerk", "証明書係 市川 一郎", frozenset({"certificates"}))
    await record_view(pool, renamed, "issue_certificate", "s-1", department="certificates")
    await record_view(pool, ROADS, "view_report", "r-1")
    assert await actor_names(pool, department="certificates") == {"cert-clerk": "証明書係 市川 一郎"}
    assert await actor_names(pool, department="certificates", usernames=["cert-clerk", "gone"]) == {
        "cert-clerk": "証明書係 市川 一郎"
    }
    assert await actor_names(pool, department="certificates", usernames=[]) == {}


async def test_a_personal_read_decrypts_and_records_the_view_in_one_call(pool: Pool) -> None:
    personal = PersonalData(pool)
    text = await personal.encrypt("U1", "公園にベンチを")
    async with pool.acquire() as conn, conn.transaction():
        viewed = await read_personal(
            conn,
            personal,
            CLERK,
            "view_opinion",
            "opinion-1",
            {"text": text, "answer": None},
            {"number": "V-1"},
        )
        nothing = await read_personal(conn, personal, CLERK, "view_opinion", "opinion-2", {"answer": None})
    assert viewed == {"text": "公園にベンチを"} and nothing == Viewed({}, None) and nothing.entry is None
    [entry] = await read_audit(pool, department="certificates")
    assert (entry.id, entry.action, entry.subject) == (viewed.entry, "view_opinion", "opinion-1")
    assert entry.detail == {"actor_name": CLERK.display_name, "number": "V-1", "fields": ["text"]}


async def test_forgetting_a_resident_shreds_their_key_and_records_who_did_it(pool: Pool) -> None:
    personal = PersonalData(pool)
    text = await personal.encrypt("U1", "公園にベンチを")
    async with pool.acquire() as conn, conn.transaction():
        assert await forget_resident(conn, personal, CLERK, "U1", {"number": "V-1"})
    assert await personal.decrypt(text) == FORGOTTEN
    [entry] = await read_audit(pool, department="certificates", action="forget_resident")
    assert entry.subject == "resident-U1" and entry.detail["number"] == "V-1"
    with pytest.raises(RuntimeError):  # forgetting that fails half-way forgets nothing
        async with pool.acquire() as conn, conn.transaction():
            await forget_resident(conn, personal, CLERK, "U2")
            raise RuntimeError("the photos could not be deleted")
    assert len(await read_audit(pool, department="certificates", action="forget_resident")) == 1
