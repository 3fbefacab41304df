"""The 電子回覧板 end to end through the kit's harness: 協働推進課 registers an association and
appoints an officer; the officer binds their LINE account with the invitation code and signs in
by a link sent in LINE; a resident asks to join in LINE, the officer approves, posts a circular,
sees who has read it and reminds the others; the resident taps 確認しました (once counts once)."""

from __future__ import annotations

import re
import uuid

from cityhall.community.domain import CircularRead, JoinRequested
from cityhall.community.testing import CODE, ask_to_join, become_officer, csrf_of, sign_in
from cityhall.events.testing import wait_for
from cityhall.line.testing import Resident, find_postback
from cityhall.web import SESSION_COOKIE

from .conftest import ADMIN, CLERK, Harness

NAME = "山田花子 3-5-201"
TITLE = "夏祭りの準備について"


async def register(harness: Harness, name: str = "本町一丁目町会") -> tuple[uuid.UUID, str]:
    """The clerk registers an association in 本町 and appoints its officer: (its id, the code)."""
    clerk, csrf = harness.staff(CLERK)
    association_id = uuid.uuid4()
    form = {"association_id": str(association_id), "name": name, "district": "honcho", "csrf_token": csrf}
    registered = await clerk.post("/staff/community/associations", data=form)
    assert registered.status_code == 303 and "done=registered" in registered.headers["location"]
    again = await clerk.post("/staff/community/associations", data=form)  # a double submit
    assert "error=already_registered" in again.headers["location"]
    appoint = {"officer_id": str(uuid.uuid4()), "name": "佐藤一郎", "csrf_token": csrf}
    officers = f"/staff/community/associations/{association_id}/officers"
    appointed = await clerk.post(officers, data=appoint)
    code = CODE.search(appointed.text)
    assert appointed.status_code == 200 and code is not None
    twice = await clerk.post(officers, data=appoint)  # a double submit appoints once
    assert "error=already_appointed" in twice.headers["location"]
    return association_id, code.group(0)


async def test_an_officer_posts_a_circular_and_sees_who_has_read_it(harness: Harness) -> None:
    _association_id, code = await register(harness)
    officer, member, stranger = harness.resident(), harness.resident(), harness.resident()

    # The officer: a wrong code is refused, theirs binds them and brings a one-time link.
    await officer.tap("domain=community&action=officer", expect="招待コード")
    await officer.say("AAAA-AAAA", expect="招待コードが正しくないか")
    await officer.say("よろしくお願いします", expect="招待コードが正しくないか")  # not a code: no guess
    pool = harness.composed.service("community").context.require_pool()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM login_failures WHERE username = $1", officer.user_id.lower()
        )
        == 1
    )
    token = await become_officer(officer, code)
    browser = harness.composed.http()
    csrf = await sign_in(browser, token)
    other = harness.composed.http()
    form = await other.get(f"/community/signin/{token}")
    spent = await other.post(f"/community/signin/{token}", data={"csrf_token": csrf_of(form.text)})
    assert spent.status_code == 400 and "すでに使われています" in spent.text  # a link signs in once

    # The resident asks to join; their name travels sealed.
    await ask_to_join(member, "本町", "本町一丁目町会", NAME)
    store = harness.composed.service("community").context.require_store()
    [requested] = [r for r in await store.read_all(limit=1000) if r.type == JoinRequested.TYPE]
    assert "山田花子" not in str(requested.envelope.data)

    async def listed() -> bool:
        return NAME in (await browser.get("/community/")).text

    await wait_for(listed, timeout=20, message="the request on the officer's page")
    home = (await browser.get("/community/")).text
    approve = re.search(r'action="(/community/members/[0-9a-f-]+/approve)"', home)
    assert approve is not None
    mark = await member.count()
    approved = await browser.post(approve.group(1), data={"csrf_token": csrf})
    assert "done=approved" in approved.headers["location"]
    await member.expect("参加が承認されました", since=mark)
    twice = await browser.post(approve.group(1), data={"csrf_token": csrf})
    assert "error=not_pending" in twice.headers["location"]

    # The officer posts a circular (a double submit posts once); the member gets it in LINE.
    circular_id = uuid.uuid4()
    form = {
        "circular_id": str(circular_id),
        "title": TITLE,
        "text": "7月20日9時に集会所へ。",
        "csrf_token": csrf,
    }
    mark = await member.count()
    posted = await browser.post("/community/circulars", data=form)
    assert "done=posted" in posted.headers["location"]
    assert (
        "error=already_posted" in (await browser.post("/community/circulars", data=form)).headers["location"]
    )
    received = await member.expect("【回覧板】本町一丁目町会", since=mark)
    read = find_postback(received, "確認しました")

    page = await browser.get(f"/community/circulars/{circular_id}")
    assert "まだ確認していない方（1人）" in page.text and NAME in page.text
    mark = await member.count()
    reminded = await browser.post(f"/community/circulars/{circular_id}/remind", data={"csrf_token": csrf})
    assert "done=reminded" in reminded.headers["location"]
    await member.expect("まだ確認されていません", since=mark)
    again = await browser.post(f"/community/circulars/{circular_id}/remind", data={"csrf_token": csrf})
    assert "error=reminded_recently" in again.headers["location"]

    # 確認しました: a double tap is one read; someone else's tap of the same button is refused.
    await member.tap(read, expect="確認済みにしました")
    await member.tap(read, expect="確認済みです")
    await stranger.tap(read, expect="お届けしたものではありません")
    reads = [r for r in await store.read_all(limit=1000) if r.type == CircularRead.TYPE]
    assert len(reads) == 1

    async def shown_read() -> bool:
        return "確認した方（1人）" in (await browser.get(f"/community/circulars/{circular_id}")).text

    await wait_for(shown_read, timeout=20, message="the read on the officer's page")

    views = await pool.fetch("SELECT action, department FROM audit_log WHERE actor LIKE 'officer-%'")
    assert {"view_members", "view_readers", "officer_login"} <= {v["action"] for v in views}
    assert {v["department"] for v in views} == {"community"}

    # 協働推進課's administrators read the officers' views; a clerk may not.
    admin, _ = harness.staff(ADMIN)
    log = await admin.get("/staff/community/audit", params={"action": "view_readers"})
    assert log.status_code == 200 and "回覧板の確認状況の閲覧" in log.text and "町内会役員" in log.text
    assert "役員のログイン</td>" not in log.text  # the filter
    clerk, _ = harness.staff(CLERK)
    assert (await clerk.get("/staff/community/audit")).status_code == 403


async def test_officers_and_staff_sessions_are_apart(harness: Harness) -> None:
    _association_id, code = await register(harness)
    officer = harness.resident()
    clerk, _csrf = harness.staff(CLERK)
    # A staff session opens no officer page, and the reverse.
    assert (await clerk.get("/community/")).status_code == 303
    staff_token = clerk.cookies.get(SESSION_COOKIE)
    forged = harness.composed.http()
    forged.cookies.set("cityhall_officer", staff_token or "", path="/community")
    refused = await forged.get("/community/")
    assert refused.status_code == 303 and "/community/login" in refused.headers["location"]

    browser = harness.composed.http()
    csrf = await sign_in(browser, await become_officer(officer, code))
    officer_token = browser.cookies.get("cityhall_officer")
    as_staff = harness.composed.http()
    as_staff.cookies.set(SESSION_COOKIE, officer_token or "")
    assert (await as_staff.get("/staff/community/")).status_code == 303

    # Logout ends the session on the server: a copied cookie is refused afterwards.
    copy = harness.composed.http()
    copy.cookies.set("cityhall_officer", officer_token or "", path="/community")
    assert (await copy.get("/community/")).status_code == 200
    assert (await browser.post("/community/logout", data={"csrf_token": csrf})).status_code == 303

    async def ended() -> bool:
        return (await copy.get("/community/")).status_code == 303

    await wait_for(ended, timeout=20, message="the copied cookie refused after logout")
    # The officer asks for a new link in LINE and is back in.
    mark = await officer.count()
    await officer.tap("domain=community&action=officer", expect="ログイン用リンク")
    link = await officer.expect("ログイン用リンク", since=mark)
    token = re.search(r"/community/signin/([A-Za-z0-9_-]{20,})", str(link))
    assert token is not None
    await sign_in(harness.composed.http(), token.group(1))


async def test_a_member_leaves_and_a_forgotten_officer_is_one_no_more(harness: Harness) -> None:
    association_id, code = await register(harness)
    officer, member = harness.resident(), harness.resident()
    browser = harness.composed.http()
    await sign_in(browser, await become_officer(officer, code))
    await ask_to_join(member, "本町", "本町一丁目町会", NAME)
    await member.tap("domain=community&action=menu", expect="承認待ち：本町一丁目町会")
    # Asking again is answered, not repeated.
    menu = await member.tap("domain=community&action=menu", expect="電子回覧板です")
    towns = await member.tap(find_postback(menu, "町内会に参加"), expect="町名をお選びください")
    choices = await member.tap(find_postback(towns, "本町"), expect="参加する町内会をお選びください")
    await member.tap(find_postback(choices, "本町一丁目町会"), expect="すでに参加を申し込んでいます")

    # Searching by name: a part of it is enough.
    await member.tap("domain=community&action=join", expect="名前の一部をこのトークでお送りください")
    found = await member.say("一丁目", expect="「一丁目」を含む名前の町内会です")
    assert find_postback(found, "本町一丁目町会")

    # Leaving: pick, confirm; a second confirm is answered as not a member.
    menu = await member.tap("domain=community&action=menu", expect="電子回覧板です")
    leaving = await member.tap(find_postback(menu, "退会する"), expect="退会する町内会をお選びください")
    confirm = await member.tap(find_postback(leaving, "退会：本町一丁目町会"), expect="退会しますか")
    yes = find_postback(confirm, "退会する")
    await member.tap(yes, expect="退会しました")
    await member.tap(yes, expect="この町内会には参加していません")

    # The officer asks to join too, and then to be forgotten: their name is shredded and their
    # officer's sign-in ends.
    await ask_to_join(officer, "本町", "本町一丁目町会", "高橋誠 1-1")
    clerk, staff_csrf = harness.staff(CLERK)
    page = f"/staff/community/associations/{association_id}"

    async def listed() -> bool:
        return "高橋誠 1-1" in (await clerk.get(page)).text

    await wait_for(listed, timeout=20, message="the officer's request on the clerk's page")
    forget = re.search(
        r'action="(/staff/community/associations/[0-9a-f-]+/members/[0-9a-f-]+/forget)"',
        (await clerk.get(page)).text,
    )
    assert forget is not None
    forgotten = await clerk.post(forget.group(1), data={"csrf_token": staff_csrf})
    assert "done=forgotten" in forgotten.headers["location"]
    shown = (await clerk.get(page)).text
    assert "高橋誠 1-1" not in shown and "（消去済み）" in shown and "役員はまだいません" in shown

    async def signed_out() -> bool:
        return (await browser.get("/community/")).status_code == 303

    await wait_for(signed_out, timeout=20, message="the forgotten officer's session ended")
    await officer.tap("domain=community&action=officer", expect="招待コード")  # no officer any more


async def test_every_message_is_answered(harness: Harness) -> None:
    resident: Resident = harness.resident()
    await resident.tap("domain=community&action=read&c=" + uuid.uuid4().hex, expect="有効期限が切れています")
    await resident.tap("domain=community&action=pick&a=not-a-uuid", expect="有効期限が切れています")
    await resident.tap("domain=community&action=district&d=nowhere", expect="有効期限が切れています")
    await resident.tap("domain=community&action=recent", expect="最近届いた回覧板はありません")
    await resident.tap("domain=community&action=officer", expect="招待コード")
    await resident.say("回覧板", expect="電子回覧板です")  # the menu again, not a wrong code
    towns = await resident.tap("domain=community&action=join", expect="町名をお選びください")
    await resident.tap(
        find_postback(towns, "北町"), expect="北町の町内会は、まだ電子回覧板に登録されていません"
    )
    await resident.say("100%_町会", expect="「100%_町会」を含む名前の町内会は、まだ")  # taken literally
