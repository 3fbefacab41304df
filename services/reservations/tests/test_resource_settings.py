"""A department edits a resource's settings in the dashboard: saved as an event (who, when, what),
refused with the slot named when it would take away what residents hold, used at once by the
resident's dialog and the calendar; the catalogue file seeds only resources not yet in the store."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, cast

import httpx

from cityhall.events.db import Connection
from cityhall.events.testing import wait_for
from cityhall.line.testing import content
from cityhall.reservations import resources
from cityhall.reservations.catalogue import Resource
from cityhall.reservations.events import ResourceEdited, ResourceSeeded
from cityhall.reservations.handlers import Reservations
from cityhall.reservations.testing import starting, to_summary, to_time

from .conftest import KENKO, KOMINKAN, Harness
from .test_service import events_of, wait_booked

SETTINGS = "/staff/reservations/resources/kominkan_room/settings"


def room(service: Reservations) -> Resource:
    found = service.catalogue.resource("kominkan_room")
    assert found is not None
    return found


def form(resource: Resource, csrf: str, **changes: str) -> dict[str, str]:
    values = {
        "name": resource.name, "place": resource.place, "phone": resource.phone,
        "bring": "\n".join(resource.bring), "opening": resources.opening_text(resource),
        **{f"q_{q.key}_{end}": str(getattr(q, end)) for q in resource.questions for end in ("min", "max")},
        **{k: str(getattr(resource, k)) for k in resources.NUMBERS},
    }  # fmt: skip
    return values | changes | {"csrf_token": csrf}


async def save(clerk: httpx.AsyncClient, data: dict[str, str]) -> httpx.Response:
    return await clerk.post(SETTINGS, data=data)


async def test_the_file_seeds_each_resource_once_and_an_edit_outlives_a_restart(harness: Harness) -> None:
    service = harness.service
    seeded = await events_of(harness, ResourceSeeded.TYPE)
    assert {e.envelope.data["code"] for e in seeded} == {r.code for r in service.seeds.resources}
    assert await service.seed() == 0  # a second start (or replica) adds nothing

    clerk, csrf = harness.staff(KOMINKAN)
    saved = await save(clerk, form(room(service), csrf, capacity="4", place="中央公民館 3階 大会議室"))
    assert saved.status_code == 303 and "done=saved" in saved.headers["location"]
    [edited] = await events_of(harness, ResourceEdited.TYPE)
    assert edited.envelope.data["by"] == KOMINKAN.username
    assert edited.envelope.data["changed"] == ["place", "capacity"]

    # Another start from the same file: the store's settings win, the file seeds nothing.
    again = Reservations(service.pool, service.store, service.seeds, service.links, clock=service.clock)
    assert await again.seed() == 0

    async def caught_up() -> bool:
        return (await again.refresh()).resource("kominkan_room") == room(service)

    await wait_for(caught_up, timeout=20, message="the edited settings in the read model")
    assert room(again).capacity == 4 and room(again).place == "中央公民館 3階 大会議室"

    page = await clerk.get(SETTINGS)
    assert "場所、1枠の定員を変更" in page.text and KOMINKAN.username in page.text
    assert "予約目録（catalogue.toml）から登録" in page.text
    unchanged = await save(clerk, form(room(service), csrf))
    assert "done=same" in unchanged.headers["location"]
    assert len(await events_of(harness, ResourceEdited.TYPE)) == 1


class Unread:
    """A connection that no query may use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the settings were read ({name}) though nothing changed")


async def test_a_replica_following_the_settings_reads_them_only_after_a_change(harness: Harness) -> None:
    service = harness.service
    for runner in harness.composed.service("reservations").projections.values():
        await runner.catch_up()  # the seeds in the read model, announced before the replica listens
    replica = Reservations(service.pool, service.store, service.seeds, service.links, clock=service.clock)
    following = asyncio.create_task(replica.follow_settings())
    try:
        await wait_for(lambda: replica._followed, message="the replica listening")
        await replica.refresh()  # reads what changed before it listened
        await replica.refresh(cast(Connection, Unread()))  # nothing changed since: no query

        clerk, csrf = harness.staff(KOMINKAN)
        assert (await save(clerk, form(room(service), csrf, capacity="4"))).status_code == 303

        async def edited() -> bool:
            return (await replica.refresh()).resource("kominkan_room") == room(service)

        await wait_for(edited, timeout=20, message="the edit announced and read")
        assert room(replica).capacity == 4
        await replica.refresh(cast(Connection, Unread()))
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following


async def test_the_dialog_and_the_calendar_use_the_edited_rules_at_once(harness: Harness) -> None:
    clerk, csrf = harness.staff(KOMINKAN)
    service = harness.service
    # Three seats an hour, Sundays 10:00-22:00; the people question up to 10.
    edited = form(
        room(service), csrf, capacity="3", opening="火水木金土 9:00-21:00\n日 10:00-22:00", q_people_max="10"
    )
    assert (await save(clerk, edited)).status_code == 303

    resident = harness.resident()
    times = await to_time(resident, "施設", "公民館 会議室", "12月13日（日）")
    assert "21:00 残り3" in content(times) and "10:00 残り3" in content(times)
    await resident.tap(starting(times, "21:00"), expect="数字でお送りください")
    await resident.say("12", expect="利用人数は1〜10の数字で")  # the edited range
    await resident.say("10", expect="予約内容の確認")

    calendar = await clerk.get("/staff/reservations/resources/kominkan_room?day=2026-12-13")
    assert re.search(r"21:00</a></td>\s*<td>0 / 3</td>", calendar.text)


async def test_an_edit_that_would_take_away_booked_slots_or_seats_is_refused_naming_the_slot(
    harness: Harness,
) -> None:
    service = harness.service
    clerk, csrf = harness.staff(KOMINKAN)
    assert (await save(clerk, form(room(service), csrf, capacity="3"))).status_code == 303
    resident, other = harness.resident(), harness.resident()
    for person in (resident, other):
        confirm = await to_summary(person, "施設", "公民館 会議室", "12月13日（日）", "17:00", ["3"])
        await person.tap(confirm, expect="予約番号は R-")
    await wait_booked(harness, 2)
    before = await events_of(harness, ResourceEdited.TYPE)

    below = await save(clerk, form(room(service), csrf, capacity="1"))
    assert below.status_code == 422
    assert "12月13日（日）17:00の枠にはすでに2人の予約があります" in below.text
    assert "設定は何も変えていません" in below.text
    gone = await save(clerk, form(room(service), csrf, opening="火水木金土 9:00-21:00\n日 9:00-12:00"))
    assert gone.status_code == 422 and "12月13日（日）17:00の枠には予約2件があります" in gone.text
    longer = await save(clerk, form(room(service), csrf, slot_minutes="90"))
    assert longer.status_code == 422 and "12月13日（日）17:00" in longer.text
    bad = await save(clerk, form(room(service), csrf, capacity="0", opening="毎日"))
    assert bad.status_code == 422 and "1〜500" in bad.text and "1行目" in bad.text
    assert await events_of(harness, ResourceEdited.TYPE) == before
    assert room(service).capacity == 3

    # Two seats still fit the two booked.
    assert (await save(clerk, form(room(service), csrf, capacity="2"))).status_code == 303
    assert room(service).capacity == 2

    # Another department may neither see nor edit the room's settings; a missing token is refused.
    nurse, nurse_csrf = harness.staff(KENKO)
    assert (await nurse.get(SETTINGS)).status_code == 403
    assert (await save(nurse, form(room(service), nurse_csrf, capacity="9"))).status_code == 403
    assert (await clerk.post(SETTINGS, data=form(room(service), "forged", capacity="9"))).status_code in (
        400,
        403,
    )
    assert room(service).capacity == 2
