"""Test support: a resident's way through the booking dialog, for the service's tests and the
integration tests (only tests import this module)."""

from __future__ import annotations

import re
from typing import Any

from cityhall.line.testing import Resident, content, find_postback


def starting(message: dict[str, Any], prefix: str) -> str:
    """The postback data of the first button whose label starts with `prefix`."""
    text = content(message)
    for pattern in (
        r'"label": "' + re.escape(prefix) + r'[^"]*", "data": "([^"]+)"',
        r'"data": "([^"]+)"[^}]*"label": "' + re.escape(prefix),
    ):
        found = re.search(pattern, text)
        if found is not None:
            return found.group(1)
    raise AssertionError(f"no button {prefix!r} in {text[:800]}")


async def to_time(resident: Resident, category: str, resource: str, day: str) -> dict[str, Any]:
    """予約 → category → resource → day (the label's start, e.g. 「12月9日（水）」): the times."""
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    resources = await resident.tap(find_postback(categories, category), expect="ご希望のものをお選びください")
    mark = await resident.send("postback", postback_data=find_postback(resources, resource))
    carousel = await resident.expect("予約日を選ぶ", since=mark)
    return await resident.tap(starting(carousel, day), expect="ご希望の時間")


async def to_summary(
    resident: Resident, category: str, resource: str, day: str, time: str, answers: list[str]
) -> str:
    """Through the questions to the summary; the 確定 button's data."""
    times = await to_time(resident, category, resource, day)
    await resident.tap(starting(times, time), expect="数字でお送りください")
    summary: dict[str, Any] = {}
    for i, answer in enumerate(answers):
        summary = await resident.say(answer, expect="予約内容の確認" if i == len(answers) - 1 else "数字で")
    return find_postback(summary, "確定")


async def to_pickup_summary(
    resident: Resident,
    district: str,
    items: list[tuple[str, str, str]],
    day: str,
    address: str = "2丁目3-4 コーポ101号室",
    phone: str = "090-1234-5678",
) -> dict[str, Any]:
    """予約 → 粗大ごみ収集 → the district → the 番地 and the phone → for each (name typed, the item's label, the count's
    label) the search, the item and its count → 収集日を選ぶ → the day: the Flex summary."""
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    districts = await resident.tap(find_postback(categories, "粗大ごみ収集"), expect="収集にうかがう地区")
    await resident.tap(find_postback(districts, district), expect="丁目・番地と、建物名")
    await resident.say(address, expect="ご連絡のつく電話番号")
    await resident.say(phone, expect="出すものの名前を送ってください")
    cart: dict[str, Any] = {}
    for typed, item, count in items:
        found = await resident.say(typed, expect=f"「{typed}」の品目")
        counts = await resident.tap(starting(found, item), expect="いくつ出しますか")
        cart = await resident.tap(find_postback(counts, count), expect="合計")
    mark = await resident.send("postback", postback_data=find_postback(cart, "収集日を選ぶ"))
    days = await resident.expect("予約日を選ぶ", since=mark)
    return await resident.tap(starting(days, day), expect="粗大ごみ収集の確認")
