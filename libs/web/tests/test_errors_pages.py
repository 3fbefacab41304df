"""Error pages without stack traces, the Japanese layout, kit assets, and the portal's list."""

from __future__ import annotations

import json
import logging

import pytest

from cityhall.web import StaffUser
from cityhall.web.dashboards import Dashboard, dashboards_for, discover_dashboards

from .conftest import Site, login


async def test_unexpected_error_shows_no_trace(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    async with site.client() as client:
        await login(client, "cert-clerk")
        with caplog.at_level(logging.ERROR, logger="cityhall.web.errors"):
            page = await client.get("/staff/certificates/boom")
        assert page.status_code == 500
        assert page.headers["content-type"].startswith("text/html")
        assert "システムエラーが発生しました" in page.text
        for leak in ("Traceback", "RuntimeError", "hunter2", "conftest.py", 'File "'):
            assert leak not in page.text
        api = await client.get("/staff/certificates/boom", headers={"Accept": "application/json"})
        assert api.status_code == 500
        assert "hunter2" not in api.text
        assert api.json()["detail"].startswith("システムエラー")
    # The trace is in the server's log, with the incident id the page shows.
    assert "hunter2" in caplog.text
    assert "unhandled error" in caplog.text


async def test_not_found_and_bad_input_pages_are_japanese(site: Site) -> None:
    async with site.client() as client:
        await login(client, "cert-clerk")
        missing = await client.get("/staff/certificates/no-such-page")
        assert missing.status_code == 404
        assert "お探しのページが見つかりません" in missing.text
        bad = await client.get("/staff/certificates/needs-number?n=abc")
        assert bad.status_code == 400
        assert "入力内容に誤りがあります" in bad.text
        assert "n:" in bad.text
        api = await client.get(
            "/staff/certificates/needs-number?n=abc", headers={"Accept": "application/json"}
        )
        assert api.status_code == 422
        assert api.json()["detail"][0]["loc"] == ["query", "n"]
        empty = await client.post(
            "/staff/certificates/notes", data={"note": ""}, headers={"Accept": "text/html"}
        )
        assert empty.status_code in (400, 403)  # no token: refused before validation


async def test_layout_is_japanese_accessible_and_uses_local_assets(site: Site) -> None:
    async with site.client() as client:
        login_page = await client.get("/staff/login")
        html = login_page.text
        assert '<html lang="ja">' in html
        assert '<a class="skip-link" href="#main">本文へ移動</a>' in html
        assert '<main id="main" tabindex="-1">' in html
        assert '<label for="f-username">ユーザー名' in html
        assert 'id="f-username" name="username"' in html
        assert '<label for="f-password">パスワード' in html
        assert 'autocomplete="current-password"' in html
        assert "https://" not in html and "http://" not in html  # nothing from a CDN
        await login(client, "cert-clerk")
        page = await client.get("/staff/certificates/")
        assert 'src="/staff/certificates/static-kit/htmx.min.js"' in page.text
        assert 'href="/staff/certificates/static-kit/kit.css"' in page.text
        assert '"X-CSRF-Token": "' in page.text
        assert "証明書係 市川" in page.text and "市民課 証明書係" in page.text
        assert 'action="/staff/logout"' in page.text
        for path in (
            "/staff/certificates/static-kit/htmx.min.js",
            "/staff/static-kit/kit.css",
            "/staff/static-kit/live.js",
        ):
            asset = await client.get(path)
            assert asset.status_code == 200, path
        htmx = await client.get("/staff/static-kit/htmx.min.js")
        assert 'version:"2.' in htmx.text


async def test_user_content_is_escaped(site: Site) -> None:
    await site.pool.execute("INSERT INTO notes (note, author) VALUES ('<script>alert(1)</script>', 'x')")
    async with site.client() as client:
        await login(client, "cert-clerk")
        page = await client.get("/staff/certificates/")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_portal_lists_only_permitted_dashboards(site: Site) -> None:
    async with site.client() as client:
        await login(client, "roads-clerk")
        roads = await client.get("/staff/")
        assert "道路の通報" in roads.text
        assert "証明書の交付" not in roads.text and "閲覧記録" not in roads.text
        assert 'href="/staff/roads/"' in roads.text
    async with site.client() as client:
        await login(client, "cert-admin")
        admin = await client.get("/staff/")
        assert "証明書の交付" in admin.text and "証明書の閲覧記録" in admin.text
        assert "道路の通報" not in admin.text
        me = (await client.get("/staff/api/me")).json()
        assert me["roles"] == ["certificates", "certificates-admin"]
        assert [d["key"] for d in me["dashboards"]] == ["audit", "certificates"] or [
            d["key"] for d in me["dashboards"]
        ] == ["certificates", "audit"]


def test_dashboards_for_and_from_the_environment() -> None:
    nobody = StaffUser("x", "X", frozenset())
    board = Dashboard("reservations", "予約", "/staff/reservations/", ("reservations",))
    assert dashboards_for(nobody, [board]) == []
    env = {
        "CITYHALL_DASHBOARDS": json.dumps(
            [{"key": "roads", "title": "道路の通報", "path": "/staff/roads/", "roles": ["roads"], "order": 5}]
        )
    }
    found = discover_dashboards(env)
    roads = next(d for d in found if d.key == "roads")
    assert roads.roles == ("roads",) and roads.order == 5
    assert dashboards_for(StaffUser("r", "R", frozenset({"roads"})), [roads]) == [roads]
