"""Every page and staff API checks the person and their department."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityhall.web import StaffUser
from cityhall.web.auth import SessionCodec

from .conftest import Site, login, new_config

FORBIDDEN = "このページを表示する権限がありません"


async def test_unauthenticated_page_redirects_to_login(site: Site) -> None:
    async with site.client() as client:
        response = await client.get("/staff/certificates/?state=new")
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/staff/login?next=/staff/certificates/%3Fstate%3Dnew"
        portal = await client.get("/staff/")
        assert portal.status_code == 303
        assert portal.headers["location"].startswith("/staff/login?next=/staff/")


async def test_unauthenticated_api_gets_401_json(site: Site) -> None:
    async with site.client() as client:
        response = await client.get("/staff/certificates/api/notes")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"detail": "ログインしてください。"}
        accept = await client.get("/staff/certificates/", headers={"Accept": "application/json"})
        assert accept.status_code == 401


async def test_unauthenticated_htmx_request_is_sent_to_login(site: Site) -> None:
    async with site.client() as client:
        response = await client.get(
            "/staff/certificates/",
            headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/staff/certificates/?page=2"},
        )
        assert response.status_code == 401
        assert response.headers["hx-redirect"] == "/staff/login?next=/staff/certificates/%3Fpage%3D2"


async def test_expired_and_forged_sessions_redirect_to_login(site: Site) -> None:
    clerk = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))
    expired, _ = SessionCodec(site.config).issue(clerk, now=datetime.now(UTC) - timedelta(hours=9))
    foreign, _ = SessionCodec(new_config()).issue(clerk)  # signed with another secret
    valid, _ = SessionCodec(site.config).issue(clerk)
    for token in (expired, foreign, valid[:-3] + "abc", "not-a-token"):
        async with site.client() as client:
            response = await client.get("/staff/certificates/", headers={"Cookie": f"cityhall_staff={token}"})
            assert response.status_code == 303, token
            assert response.headers["location"].startswith("/staff/login")
    async with site.client() as client:
        page = await client.get("/staff/certificates/", headers={"Cookie": f"cityhall_staff={valid}"})
        assert page.status_code == 200


async def test_another_department_gets_403(site: Site) -> None:
    async with site.client() as client:
        await login(client, "roads-clerk")
        page = await client.get("/staff/certificates/")
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert FORBIDDEN in page.text
        assert '<html lang="ja">' in page.text
        assert "道路管理課 品川" in page.text and 'action="/staff/logout"' in page.text  # who, and a way out
        api = await client.get("/staff/certificates/api/notes")
        assert api.status_code == 403
        assert FORBIDDEN in api.json()["detail"]
        assert (await client.get("/staff/")).status_code == 200  # the portal itself is for everyone


async def test_own_department_gets_in(site: Site) -> None:
    async with site.client() as client:
        await login(client, "cert-admin")
        assert (await client.get("/staff/certificates/api/notes")).json() == []


async def test_session_from_the_portal_is_valid_in_the_department_app(site: Site) -> None:
    """One login at /staff/login; the cookie's path /staff covers every dashboard."""
    async with site.client() as client:
        response = await login(client, "cert-clerk")
        assert response.headers["location"] == "/staff/"
        portal = await client.get("/staff/")
        assert "証明書の交付" in portal.text
        assert (await client.get("/staff/certificates/")).status_code == 200
