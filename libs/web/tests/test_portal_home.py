"""The portal's landing page tells each person the truth: the dashboards they may open, and
for a department whose dashboard does not exist yet, that it is not ready, what to do, whom
to ask. The header names the department once."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from cityhall.web import StaffUser
from cityhall.web.portal.app import create_portal

from .conftest import DASHBOARDS, PASSWORD, Site, login, password_hash

# The certificates dashboards only: roads has no service yet.
BUILT = tuple(d for d in DASHBOARDS if d.key != "roads")
CHOOSE = "担当業務の画面を選んでください"


def portal_client(site: Site) -> httpx.AsyncClient:
    root = FastAPI()
    root.mount("/staff", create_portal(site.config, site.accounts, dashboards=BUILT))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=root), base_url="http://testserver")


def header(html: str) -> str:
    match = re.search(r'<header class="site-header">(.*?)</header>', html, re.S)
    assert match, "no site header"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


async def test_a_department_without_a_dashboard_is_told_so_and_not_asked_to_choose(site: Site) -> None:
    async with portal_client(site) as client:
        await login(client, "roads-clerk")
        page = await client.get("/staff/")
    assert page.status_code == 200
    assert CHOOSE not in page.text and "利用できる業務画面がありません" not in page.text
    assert 'class="cards"' not in page.text
    assert "道路管理課の業務画面は、まだ用意されていません" in page.text
    assert "これまでどおりの手順" in page.text  # what to do meanwhile
    assert "証明書の交付（市民課 証明書係）" in page.text  # what the portal does offer
    assert "問い合わせ先" in page.text and "所属の管理者" in page.text


async def test_a_person_with_a_dashboard_chooses_and_hears_of_the_missing_one(site: Site) -> None:
    await site.accounts.save(
        "both-clerk", "山田 太郎", PASSWORD, ["certificates", "roads"], password_hash=password_hash()
    )
    async with portal_client(site) as client:
        await login(client, "both-clerk")
        page = await client.get("/staff/")
    assert CHOOSE in page.text and 'href="/staff/certificates/"' in page.text
    assert "道路管理課の業務画面は、まだ用意されていません" in page.text
    # The name says no department, so the header does, once each.
    assert "（市民課 証明書係・道路管理課）" in header(page.text)


async def test_a_person_with_every_dashboard_sees_no_notice(site: Site) -> None:
    async with portal_client(site) as client:
        await login(client, "cert-admin")
        page = await client.get("/staff/")
    assert CHOOSE in page.text and "まだ用意されていません" not in page.text
    assert page.text.count('class="card"') == 2
    assert "証明書係長 渋谷 （市民課 証明書係）" in header(page.text)


async def test_no_department_at_all_is_explained(site: Site) -> None:
    await site.accounts.save("newcomer", "新人 太郎", PASSWORD, [], password_hash=password_hash())
    async with portal_client(site) as client:
        await login(client, "newcomer")
        page = await client.get("/staff/")
    assert CHOOSE not in page.text
    assert "所属（担当業務）が設定されていない" in page.text
    assert "（所属なし）" in header(page.text)


async def test_the_header_names_the_department_once(site: Site) -> None:
    async with portal_client(site) as client:
        await login(client, "roads-clerk")
        shown = header((await client.get("/staff/")).text)
    assert shown.count("道路管理課") == 1 and "道路管理課 品川" in shown


def test_header_department() -> None:
    def user(name: str, *roles: str) -> StaffUser:
        return StaffUser("u", name, frozenset(roles))

    assert user("道路管理課 品川", "roads").header_department == ""
    assert user("市民課 証明書係 渋谷", "certificates", "certificates-admin").header_department == ""
    # 「市民課」 is news to a reader of 「証明書係 市川」: the whole name of the department stays.
    assert user("証明書係 市川", "certificates").header_department == "市民課 証明書係"
    assert user("山田 太郎", "certificates").header_department == "市民課 証明書係"
    assert user("道路管理課 品川", "roads", "notify").header_department == "広報・お知らせ"
    assert user("山田 太郎").header_department == "所属なし"
