"""A resident writes an opinion in LINE; a clerk of 広聴広報課 reads it and answers; the answer
reaches the resident. Through the kit's harness: the runtime's composition, notify, the emulator."""

from __future__ import annotations

import re
import uuid

from cityhall.events.testing import wait_for
from cityhall.line.testing import Resident, find_postback
from cityhall.voice.domain import OpinionAnswered, OpinionSubmitted

from .conftest import CLERK, Harness

TEXT = "駅前の公園に、日陰になるベンチを増やしていただけないでしょうか。"


async def write(resident: Resident, category: str = "まちづくり") -> tuple[str, str]:
    """The resident's opinion through to its receipt: (the receipt number, the 送信 button's data)."""
    asked = await resident.tap("domain=voice&action=menu", expect="文章でお送りください")
    assert find_postback(asked, "やめる")
    categories = await resident.say(TEXT, expect="分野")
    confirm = await resident.tap(find_postback(categories, category), expect="送信してよろしいですか")
    send = find_postback(confirm, "送信")
    receipt = await resident.tap(send, expect="受付番号")
    number = re.search(r"V-[0-9A-F]{8}", str(receipt))
    assert number is not None
    return number.group(0), send


async def test_a_resident_writes_an_opinion_and_a_clerk_answers_it_in_line(harness: Harness) -> None:
    resident = harness.resident()
    number, _send = await write(resident)
    store = harness.composed.service("voice").context.require_store()
    [submitted] = [r for r in await store.read_all(limit=1000) if r.type == OpinionSubmitted.TYPE]
    assert TEXT not in str(submitted.envelope.data)  # the text travels sealed

    clerk, csrf = harness.staff(CLERK)

    async def listed() -> bool:
        return number in (await clerk.get("/staff/voice/")).text

    await wait_for(listed, timeout=20, message="the opinion on the dashboard")
    opinion_id = uuid.UUID(str(submitted.envelope.data["opinion_id"]))
    page = await clerk.get(f"/staff/voice/opinions/{opinion_id}")
    assert page.status_code == 200 and TEXT in page.text
    pool = harness.composed.service("voice").context.require_pool()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'view_opinion' AND actor = $1", CLERK.username
        )
        == 1
    )

    mark = await resident.count()
    answered = await clerk.post(
        f"/staff/voice/opinions/{opinion_id}/answer",
        data={"text": "ベンチの設置を検討いたします。", "csrf_token": csrf},
    )
    assert answered.status_code == 303
    reply = await resident.expect("ベンチの設置を検討いたします。", since=mark)
    assert number in str(reply)
    again = await clerk.post(
        f"/staff/voice/opinions/{opinion_id}/answer", data={"text": "二度目", "csrf_token": csrf}
    )
    assert "error=already_answered" in again.headers["location"]
    refused = await clerk.get(again.headers["location"])
    assert "このご意見にはすでに回答しています。" in refused.text
    assert len([r for r in await store.read_all(limit=1000) if r.type == OpinionAnswered.TYPE]) == 1

    # Forgetting the resident shreds the opinion and the answer.
    forgot = await clerk.post(f"/staff/voice/opinions/{opinion_id}/forget", data={"csrf_token": csrf})
    assert forgot.status_code == 303
    shredded = await clerk.get(f"/staff/voice/opinions/{opinion_id}")
    assert TEXT not in shredded.text and "（消去済み）" in shredded.text
    # Their new opinions are refused, with a clear answer (no new key for a forgotten resident).
    await resident.tap("domain=voice&action=menu", expect="文章でお送りください")
    await resident.say("もう一度", expect="消去しております")


async def test_a_double_tap_a_replay_and_a_forged_tap_change_nothing(harness: Harness) -> None:
    resident, other = harness.resident(), harness.resident()
    number, send = await write(resident)
    await resident.tap(send, expect=f"すでに受け付けています（受付番号 {number}）")
    await other.tap(send, expect="お受けできません")
    store = harness.composed.service("voice").context.require_store()
    assert len([r for r in await store.read_all(limit=1000) if r.type == OpinionSubmitted.TYPE]) == 1
