"""Never silence, across processes: with only notify running behind the gateway (on Kafka), every
tile of a domain nothing serves, typed text, a location, a photo and a sticker get an answer at
the LINE emulator, as a reply with the event's own reply token."""

from __future__ import annotations

from typing import Any

import pytest

from cityhall.events.testing import wait_for
from cityhall.gateway import testing as webhooks
from cityhall.gateway.messages import CONTACTS, PAGES

from .harness import LineClient

pytestmark = pytest.mark.timeout(600)

PREPARING = "現在準備を進めています"


def what_arrives(user: str) -> list[tuple[dict[str, Any], str]]:
    """(webhook event, a fragment its answer must contain), in the order a resident sends them."""
    return [
        (webhooks.postback(user, "domain=reservations&action=menu"), CONTACTS["reservations"].phone),
        (webhooks.postback(user, "domain=reports&action=menu"), CONTACTS["reports"].phone),
        (webhooks.postback(user, "domain=guide&action=shelters"), PAGES["shelters"]),
        (webhooks.postback(user, "domain=guide&action=faq"), PAGES["faq"]),
        (webhooks.text_message(user, "よくある質問"), PAGES["faq"]),
        (webhooks.text_message(user, "こんにちは"), "・予約："),
        # certificates is not running in this deployment: its phone instead of its button.
        (webhooks.text_message(user, "住民票がほしい"), CONTACTS["certificates"].phone),
        (webhooks.text_message(user, "ごみの日はいつ？"), PAGES["garbage"]),
        (webhooks.location_message(user, 35.0, 139.0), CONTACTS["reports"].phone),
        (webhooks.image_message(user), CONTACTS["reports"].phone),
        (webhooks.sticker_message(user), "スタンプ"),
    ]


async def answer_to(line: LineClient, event: dict[str, Any]) -> dict[str, Any]:
    """Send `event` as LINE would and wait for the one message that answers it."""
    user = event["source"]["userId"]
    before = len(await line.messages(user))
    await line.issue_reply_token(event)
    response = await line.post_webhook(event)
    for _ in range(3):  # as LINE does when the gateway could not record it within its budget
        if response.status_code != 500:
            break
        event = {**event, "deliveryContext": {"isRedelivery": True}}
        response = await line.post_webhook(event)
    assert response.status_code == 200, response.text
    got: list[dict[str, Any]] = []

    async def answered() -> bool:
        got[:] = (await line.messages(user))[before:]
        return bool(got)

    await wait_for(answered, timeout=60, interval=0.1, message=f"an answer to {event}")
    [answer] = got
    return answer


async def test_every_resident_message_gets_an_answer(line: LineClient) -> None:
    user = webhooks.user_id()
    await line.add_resident(user)
    for event, expected in what_arrives(user):
        answer = await answer_to(line, event)
        assert answer["endpoint"] == "reply", answer
        assert expected in answer["message"]["text"], (event, answer)
    assert PREPARING in (await line.messages(user))[0]["message"]["text"]
