"""Never silence, in the simulator on the embedded run: the gateway's own tile (防災/避難所),
free text, and leaving a certificate request for another tile all get an answer. (A tile whose
service is not deployed is answered too; the embedded run deploys every service, so the gateway's
and the integration tests cover that case.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import screenshot
from .embedded import embedded_run


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[str]:
    with embedded_run(tmp_path / "data", tmp_path / "cityhall-run.log") as url:
        yield url


def test_the_shelters_tile_free_text_and_leaving_a_request_are_answered(embedded: str, page: Page) -> None:
    chat = page.locator("#chat")
    theirs = chat.locator(".msg.theirs")
    tiles = page.locator("#rich-menu-areas")
    page.goto(embedded)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("新しい住民の表示名").fill("山田 花子")
    page.get_by_role("button", name="作成").click()
    page.locator("#follow-button").click()
    expect(theirs.first).to_contain_text("友だち追加ありがとうございます。", timeout=30_000)

    tiles.get_by_role("button", name="防災/避難所").click()
    expect(theirs.last).to_contain_text("指定避難所の一覧と地図", timeout=30_000)

    page.locator("#message-input").fill("こんにちは")
    page.get_by_role("button", name="送信").click()
    expect(theirs.last).to_contain_text("・予約：", timeout=30_000)
    expect(theirs.last).to_contain_text("こんにちは。ポケット市役所の公式アカウントです。")
    chat.locator(".msg.own").first.evaluate("row => row.scrollIntoView({block: 'start'})")
    screenshot(page, "simulator-never-silent.png")

    # In the middle of a certificate request, another tile: the request waits as a draft.
    tiles.get_by_role("button", name="証明書").click()
    expect(theirs.filter(has_text="住民票の写し").last).to_be_visible(timeout=30_000)
    theirs.filter(has_text="住民票の写し").last.get_by_role("button", name="申請する").first.click()
    expect(theirs.last).to_contain_text("記載する人の範囲", timeout=30_000)
    tiles.get_by_role("button", name="通報").click()
    expect(theirs.filter(has_text="下書きとして保存")).to_have_count(1, timeout=30_000)
    expect(theirs.filter(has_text="通報の種類を下からお選びください")).to_have_count(1, timeout=30_000)
    # As the notice says: 証明書, then 入力を続ける (the two answers above arrive in either order,
    # so the quick replies on screen may be either's).
    tiles.get_by_role("button", name="証明書").click()
    expect(theirs.filter(has_text="証明書のオンライン申請")).to_have_count(2, timeout=30_000)
    page.locator("#quick-replies").get_by_role("button", name="入力を続ける").click()
    expect(theirs.filter(has_text="記載する人の範囲")).to_have_count(2, timeout=30_000)
