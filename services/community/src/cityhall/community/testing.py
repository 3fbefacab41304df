"""Test support both suites use (service tests and tests/integration): the resident's way into an
association and an officer's way into their pages. Only tests import this module."""

from __future__ import annotations

import re

import httpx

from cityhall.line.testing import Resident, find_postback

CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}")
SIGNIN = re.compile(r"/community/signin/([A-Za-z0-9_-]{20,})")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def become_officer(resident: Resident, code: str) -> str:
    """The resident sends their invitation code in LINE; returns the sign-in token they receive."""
    await resident.tap("domain=community&action=officer", expect="招待コード")
    mark = await resident.count()
    await resident.say(code, expect="役員として登録しました")
    link = await resident.expect("ログイン用リンク", since=mark)
    found = SIGNIN.search(str(link))
    assert found is not None, "no sign-in link"
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, token: str) -> str:
    """Spend a sign-in link in `browser`; returns the session's CSRF token."""
    page = await browser.get(f"/community/signin/{token}")
    assert page.status_code == 200, page.text
    signed = await browser.post(f"/community/signin/{token}", data={"csrf_token": csrf_of(page.text)})
    assert signed.status_code == 303, signed.text
    home = await browser.get("/community/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


async def ask_to_join(resident: Resident, district: str, association: str, name: str) -> None:
    """The resident picks their 町 and association in LINE and gives their name."""
    menu = await resident.tap("domain=community&action=menu", expect="電子回覧板です")
    towns = await resident.tap(find_postback(menu, "町内会に参加"), expect="町名をお選びください")
    choices = await resident.tap(find_postback(towns, district), expect="参加する町内会をお選びください")
    await resident.tap(find_postback(choices, association), expect="お名前と番地")
    await resident.say(name, expect="参加を申し込みました")
