"""電子回覧板 in real Chromium on `cityhall run`: the clerk of 協働推進課 registers an association
and appoints an officer; the officer, a resident in the simulator, types 回覧板, sends the code
and opens the sign-in link LINE brings; a neighbour asks to join, the officer approves, posts a
circular, the neighbour taps 確認しました and the officer, watching the circular's page, sees it
read without a reload.
Screenshots: simulator-community.png, community-officer.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from .conftest import screenshot
from .embedded import embedded_run
from .test_certificates_browser import Embedded, Simulator, new_page

pytestmark = pytest.mark.timeout(600)

ASSOCIATION = "本町三丁目町会"
NAME = "田中 由美 3-12-4"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("community-run")
    with embedded_run(tmp / "data", tmp / "cityhall-run.log") as url:
        yield Embedded(url, tmp / "data")


def open_board(sim: Simulator) -> None:
    sim.type("回覧板", then="下のボタンから始められます")
    sim.quick_reply("回覧板を開く", then="電子回覧板です")


def test_an_officer_posts_a_circular_and_sees_who_has_read_it(embedded: Embedded, browser: Browser) -> None:
    contexts = [
        new_page(browser, width=1280),
        new_page(browser),
        new_page(browser),
        new_page(browser, width=1280),
    ]
    (_, desk), (_, officer_phone), (_, phone), (_, officer_desk) = contexts
    try:
        desk.goto(f"{embedded.url}/staff/community/")
        desk.get_by_label("ユーザー名").fill("kyodo-clerk")
        desk.get_by_label("パスワード").fill(embedded.password("kyodo-clerk"))
        desk.get_by_role("button", name="ログイン").click()
        desk.get_by_label("町内会・自治会の名前").fill(ASSOCIATION)
        desk.get_by_label("町名").select_option(label="本町")
        desk.get_by_role("button", name="登録する").click()
        expect(desk.get_by_role("status")).to_have_text("町内会を登録しました。")
        desk.get_by_role("link", name=ASSOCIATION).click()
        desk.get_by_label("役員のお名前").fill("高橋 誠")
        desk.get_by_role("button", name="役員を登録して招待コードを発行する").click()
        code = desk.locator(".invitation-code").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)

        officer = Simulator(officer_phone, embedded.url)
        officer.open("高橋 誠")
        open_board(officer)
        officer.quick_reply("役員の方", then="招待コード")
        officer.type(code, then="ログイン用リンク")
        link = re.search(r"https?://\S+/community/signin/[A-Za-z0-9_-]+", officer.chat.inner_text())
        assert link is not None
        officer_desk.goto(link.group(0))
        officer_desk.get_by_role("button", name="ログインする").click()
        expect(officer_desk.get_by_role("heading", level=1)).to_have_text(ASSOCIATION)

        neighbour = Simulator(phone, embedded.url)
        neighbour.open("田中 由美")
        open_board(neighbour)
        neighbour.quick_reply("町内会に参加", then="町名をお選びください")
        neighbour.quick_reply("本町", then="参加する町内会をお選びください")
        neighbour.quick_reply(ASSOCIATION, then="お名前と番地")
        neighbour.type(NAME, then="参加を申し込みました")

        officer_desk.reload()
        expect(officer_desk.locator("main")).to_contain_text(NAME)
        officer_desk.get_by_role("button", name="承認する").click()
        expect(officer_desk.get_by_role("status")).to_contain_text("参加を承認しました")
        neighbour.wait_for("参加が承認されました")

        officer_desk.get_by_label("件名").fill("資源ごみ集積所の清掃当番")
        officer_desk.get_by_label("本文（会員のLINEに届きます）").fill(
            "7月の清掃当番は3班です。第2日曜の朝8時に集積所へお集まりください。"
        )
        officer_desk.get_by_role("button", name="回覧板を回す").click()
        expect(officer_desk.get_by_role("status")).to_contain_text("回覧板を回しました")
        neighbour.wait_for("【回覧板】" + ASSOCIATION)

        # The officer watches the circular's page; the neighbour's 確認しました appears without a reload.
        officer_desk.get_by_role("link", name="資源ごみ集積所の清掃当番").click()
        expect(officer_desk.locator("ul.unread")).to_contain_text(NAME)
        expect(officer_desk.locator("[data-live-status]")).not_to_contain_text("準備しています")
        neighbour.quick_reply("確認しました", then="確認済みにしました")
        screenshot(phone, "simulator-community.png")
        expect(officer_desk.locator("ul.read")).to_contain_text(NAME, timeout=30_000)
        expect(officer_desk.locator("main")).to_contain_text("全員が確認しました")
        screenshot(officer_desk, "community-officer.png")
    finally:
        for context, _page in contexts:
            context.close()
    for _context, page in contexts:
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
