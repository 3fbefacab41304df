"""Routing: postbacks name their domain, messages follow the resident's dialog, 30 idle minutes
lead back to the guide, follow/unfollow go to notify, services claim and release dialogs."""

from __future__ import annotations

from datetime import timedelta

from cityhall.events.bus import Record
from cityhall.events.testing import wait_for
from cityhall.gateway import testing as line
from cityhall.gateway.routing import postback_domain
from cityhall.line.contracts import DIALOGS_TOPIC, DialogClaimed, DialogReleased, dialog_event

from .conftest import Gateway


async def topics(gateway: Gateway) -> list[str]:
    return [topic for topic, _key, _env in await gateway.published()]


async def say(gateway: Gateway, user: str, text: str = "はい") -> None:
    assert (await gateway.post(line.webhook(line.text_message(user, text)))).status_code == 200


def test_postback_data_names_its_domain() -> None:
    assert postback_domain("domain=certificates&action=menu") == "certificates"
    assert postback_domain("action=menu&domain=reports") == "reports"
    assert postback_domain("domain=payroll&action=menu") is None
    assert postback_domain("domain=guide&domain=notify") is None
    assert postback_domain("just some text") is None
    assert postback_domain("") is None


async def test_a_postback_goes_to_its_domain_and_the_residents_messages_follow_it(gateway: Gateway) -> None:
    user = line.user_id()
    assert (
        await gateway.post(line.webhook(line.postback(user, "domain=certificates&action=menu")))
    ).status_code == 200
    await say(gateway, user, "住民票を1通")
    assert (await gateway.post(line.webhook(line.image_message(user)))).status_code == 200
    assert (await gateway.post(line.webhook(line.location_message(user, 35.0, 139.0)))).status_code == 200
    assert await topics(gateway) == ["intents.certificates"] * 4


async def test_in_one_body_a_message_after_a_postback_follows_it(gateway: Gateway) -> None:
    user = line.user_id()
    body = line.webhook(
        line.text_message(user, "こんにちは"),
        line.postback(user, "domain=certificates&action=menu"),
        line.text_message(user, "住民票を1通"),
        line.unfollow(user),
        line.text_message(user, "まだいますか"),
    )
    assert (await gateway.post(body)).status_code == 200
    assert await topics(gateway) == [
        "intents.guide",
        "intents.certificates",
        "intents.certificates",
        "intents.notify",
        "intents.guide",
    ]
    assert await _dialog(gateway, user) is None


async def test_another_residents_messages_are_not_affected(gateway: Gateway) -> None:
    alice, bob = line.user_id(), line.user_id()
    assert (
        await gateway.post(line.webhook(line.postback(alice, "domain=reports&action=new")))
    ).status_code == 200
    await say(gateway, bob)
    assert await topics(gateway) == ["intents.reports", "intents.guide"]


async def test_after_30_idle_minutes_messages_go_to_the_guide(gateway: Gateway) -> None:
    user = line.user_id()
    assert (
        await gateway.post(line.webhook(line.postback(user, "domain=reservations&action=menu")))
    ).status_code == 200
    gateway.clock.advance(timedelta(minutes=29))
    await say(gateway, user)  # still in the dialog, and this keeps it alive
    gateway.clock.advance(timedelta(minutes=29))
    await say(gateway, user)
    gateway.clock.advance(timedelta(minutes=30, seconds=1))
    await say(gateway, user)
    await say(gateway, user)
    assert await topics(gateway) == ["intents.reservations"] * 3 + ["intents.guide"] * 2


async def test_a_postback_without_a_known_domain_goes_to_the_guide_and_keeps_the_dialog(
    gateway: Gateway,
) -> None:
    user = line.user_id()
    for data in ("domain=reports&action=new", "domain=payroll", "action=only"):
        assert (await gateway.post(line.webhook(line.postback(user, data)))).status_code == 200
    await say(gateway, user)
    assert await topics(gateway) == ["intents.reports", "intents.guide", "intents.guide", "intents.reports"]


async def test_follow_and_unfollow_go_to_notify_and_end_the_dialog(gateway: Gateway) -> None:
    user = line.user_id()
    assert (
        await gateway.post(line.webhook(line.postback(user, "domain=certificates&action=menu")))
    ).status_code == 200
    assert (await gateway.post(line.webhook(line.unfollow(user)))).status_code == 200
    assert (await gateway.post(line.webhook(line.follow(user, is_unblocked=True)))).status_code == 200
    await say(gateway, user)
    assert await topics(gateway) == [
        "intents.certificates",
        "intents.notify",
        "intents.notify",
        "intents.guide",
    ]


async def _dialog(gateway: Gateway, user: str) -> str | None:
    domain: str | None = await gateway.pool.fetchval("SELECT domain FROM dialogs WHERE user_id = $1", user)
    return domain


async def test_a_service_claims_and_releases_a_residents_dialog_through_line_dialogs(
    gateway: Gateway,
) -> None:
    user = line.user_id()
    claim = dialog_event(
        DialogClaimed(user_id=user, domain="reports"), source="/services/reports", caused_by=None
    )
    await gateway.bus.publish([Record.of(DIALOGS_TOPIC, user, claim)])
    await wait_for(lambda: _dialog(gateway, user), timeout=10, message="the claim was not applied")
    await say(gateway, user, "道路に穴があります")

    # A release by a domain that does not hold the dialog changes nothing.
    stray = dialog_event(
        DialogReleased(user_id=user, domain="guide"), source="/services/guide", caused_by=None
    )
    release = dialog_event(
        DialogReleased(user_id=user, domain="reports"), source="/services/reports", caused_by=None
    )
    await gateway.bus.publish([Record.of(DIALOGS_TOPIC, user, stray)])
    await gateway.bus.publish([Record.of(DIALOGS_TOPIC, user, claim)])  # a duplicate delivery: no effect

    async def handled(envelope_id: object) -> bool:
        return bool(await gateway.pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", envelope_id))

    await wait_for(lambda: handled(stray.id), timeout=10)
    assert await _dialog(gateway, user) == "reports"
    await gateway.bus.publish([Record.of(DIALOGS_TOPIC, user, release)])

    async def released() -> bool:
        return await _dialog(gateway, user) is None

    await wait_for(released, timeout=10, message="the release was not applied")
    await say(gateway, user)
    assert await topics(gateway) == ["intents.reports", "intents.guide"]
