"""配信設定 in LINE: a resident chooses district, interests, children, 転入日, language and quiet
hours; they are stored sealed with the resident's key beside a code table of small integers,
and forgetting the resident removes both."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cityhall.events.personal import FORGOTTEN
from cityhall.events.testing import wait_for
from cityhall.line.japanese import jst
from cityhall.line.testing import Intents, Resident, find_postback
from cityhall.notify.audience import Audience
from cityhall.notify.preferences import month_index
from cityhall.web import StaffUser

from .conftest import Harness, user

SETTINGS = "domain=notify&action=settings"


def resident(harness: Harness) -> Resident:
    return Resident(user(), harness.http, Intents(harness.publish, "notify"))


async def code_row(harness: Harness, user_id: str) -> dict[str, object] | None:
    row = await harness.pool.fetchrow("SELECT * FROM audience WHERE user_id = $1", user_id)
    return dict(row) if row else None


async def test_a_resident_sets_every_preference_and_it_is_stored_sealed(harness: Harness) -> None:
    me = resident(harness)
    menu = await me.tap(SETTINGS, expect="現在の配信設定です")
    districts = await me.tap(find_postback(menu, "地域"), expect="町丁目")
    menu = await me.tap(find_postback(districts, "南町"), expect="東小学校区")

    interests = await me.tap(find_postback(menu, "お知らせの種類"), expect="受け取るお知らせの種類")
    interests = await me.tap(find_postback(interests, "停止：イベント"), expect="× 配信停止：イベント")
    assert find_postback(interests, "再開：イベント")

    children = await me.tap(find_postback(interests, "戻る"), expect="現在の配信設定です")
    children = await me.tap(find_postback(children, "お子さま"), expect="生年月")
    today = jst(datetime.now(UTC)).date()
    born = date(today.year - 1, today.month, 1)
    children = await me.say(f"{born.year}年{born.month}月", expect="1–2歳")
    # The date picker's answer arrives as the postback's params.
    picked = date(today.year - 8, 5, 10)
    children = await me.tap(
        "domain=notify&action=add_child", expect="小学生", params={"date": picked.isoformat()}
    )
    bad = await me.say("そのうち", expect="読み取れませんでした")
    assert find_postback(bad, "戻る")

    moved = await me.tap("domain=notify&action=s_moved_in", expect="転入された日")
    menu = await me.say("2026年4月1日", expect="転入日を2026年4月1日にしました")
    languages = await me.tap(find_postback(menu, "言語"), expect="言語をお選びください")
    menu = await me.tap(find_postback(languages, "English"), expect="言語を「English」にしました")
    quiet = await me.tap(find_postback(menu, "通知しない時間帯"), expect="通知しない時間帯をお選びください")
    menu = await me.tap(find_postback(quiet, "22時〜翌7時"), expect="22時〜翌7時")
    assert moved
    await me.tap(find_postback(menu, "終了"), expect="配信設定を保存しました")

    sealed = await harness.pool.fetchval("SELECT sealed FROM preferences WHERE user_id = $1", me.user_id)
    assert sealed.startswith("pd1:") and "minami" not in sealed  # sealed with the resident's key
    row = await code_row(harness, me.user_id)
    assert row is not None
    assert row["district"] == 4 and "school" not in row  # the 学区 is derived, not stored
    assert 4 not in row["interests"] and 1 in row["interests"]  # イベント stopped, 防災 kept
    assert row["children"] == sorted([month_index(born.year, born.month), month_index(picked.year, 5)])
    assert row["moved_in"] == date(2026, 4, 1)
    assert (row["language"], row["quiet_start"], row["quiet_end"]) == (2, 22, 7)

    # Forgetting the resident removes the sealed preferences and the code-table row; the key is gone.
    audience = Audience(harness.pool)
    admin = StaffUser("notify-admin", "広報課 管理者", frozenset({"notify-admin"}))
    assert await harness.notify.desk.forget(admin, me.user_id)
    forgot = await harness.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'forget_resident' AND actor = 'notify-admin'"
    )
    assert forgot == 1
    assert await harness.pool.fetchval("SELECT count(*) FROM preferences WHERE user_id = $1", me.user_id) == 0
    assert await code_row(harness, me.user_id) is None
    assert await audience.personal.decrypt(sealed) == FORGOTTEN
    await me.tap(SETTINGS, expect="現在の配信設定です")
    await me.tap("domain=notify&action=set_language&l=ja", expect="消去しております")
    assert await code_row(harness, me.user_id) is None


async def test_a_forged_or_stale_button_changes_nothing_and_is_answered(harness: Harness) -> None:
    me = resident(harness)
    await me.tap("domain=notify&action=set_district&d=atlantis", expect="有効期限が切れています")
    await me.tap("domain=notify&action=toggle&i=nothing", expect="有効期限が切れています")
    await me.tap("domain=notify&action=set_quiet&q=3-4", expect="有効期限が切れています")
    await me.tap("domain=notify&action=del_child&m=24000", expect="お子さまの生年月")
    assert await harness.pool.fetchval("SELECT count(*) FROM preferences WHERE user_id = $1", me.user_id) == 0
    # Text in the dialog that is not an answer is answered too.
    await me.tap(SETTINGS, expect="現在の配信設定です")
    await me.say("こんにちは", expect="下のボタンから")


async def test_following_adds_a_default_row_and_blocking_marks_it(harness: Harness) -> None:
    me = resident(harness)
    await me.send("follow")
    await me.expect("友だち追加ありがとうございます")

    async def row_blocked() -> object:
        row = await code_row(harness, me.user_id)
        return row["blocked"] if row else None

    assert await row_blocked() is False
    row = await code_row(harness, me.user_id)
    assert row is not None and sorted(row["interests"]) == list(range(1, 9))  # type: ignore[call-overload]
    await me.send("unfollow")

    async def blocked() -> bool:
        return await row_blocked() is True

    await wait_for(blocked, timeout=20, message="the code table marks the block")
