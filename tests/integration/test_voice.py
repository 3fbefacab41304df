"""市民の声 across processes: signed webhooks → gateway → Kafka → voice → Kafka → notify → the LINE
emulator, and a clerk answering on voice's dashboard over HTTP, the answer reaching the resident.

Processes: the LINE emulator, `cityhall service gateway`, `notify`, `staff-portal` and `voice`,
each with its own database on the test Postgres, all on the test Kafka.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from cityhall.events.testing import wait_for
from cityhall.line.testing import find_postback
from cityhall.web import StaffUser

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

CLERK = StaffUser("voice-clerk", "広聴広報課 杉並", frozenset({"voice"}))


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("voice"))
    for name in ("gateway", "notify", "staff-portal", "voice"):
        deployment.service(name)
    with deployment:
        yield deployment


async def test_an_opinion_written_in_line_is_answered_from_the_dashboard(
    deployment: Deployment, line: LineClient
) -> None:
    resident = line.resident()
    asked = await resident.tap("domain=voice&action=menu", expect="文章でお送りください")
    assert find_postback(asked, "やめる")
    # Free text reaches voice because the tap claimed the resident's dialog at the gateway.
    categories = await resident.say("ごみ集積所の表示を外国語でも書いてほしいです。", expect="分野")
    confirm = await resident.tap(find_postback(categories, "まちづくり"), expect="送信してよろしいですか")
    send = find_postback(confirm, "送信")
    receipt = await resident.tap(send, expect="受付番号")
    number = re.search(r"V-[0-9A-F]{8}", str(receipt))
    assert number is not None
    await resident.tap(send, expect=f"すでに受け付けています（受付番号 {number.group(0)}）")

    clerk, csrf = await deployment.clerk("voice", CLERK)
    found: list[str] = []

    async def listed() -> bool:
        page = (await clerk.get("/staff/voice/")).text
        found[:] = re.findall(r"/staff/voice/opinions/([0-9a-f-]{36})", page)
        return number.group(0) in page and bool(found)

    try:
        await wait_for(listed, timeout=60, message="the opinion on voice's dashboard")
        opinion_id = uuid.UUID(found[0])
        page = await clerk.get(f"/staff/voice/opinions/{opinion_id}")
        assert "外国語でも" in page.text
        mark = await resident.count()
        answered = await clerk.post(
            f"/staff/voice/opinions/{opinion_id}/answer",
            data={"text": "多言語の表示板を順次設置します。", "csrf_token": csrf},
        )
        assert answered.status_code == 303 and "done=answered" in answered.headers["location"]
        reply = await resident.expect("多言語の表示板を順次設置します。", since=mark, timeout=60)
        assert number.group(0) in str(reply)
    finally:
        await clerk.aclose()
