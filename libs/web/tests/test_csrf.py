"""State-changing requests need the session's CSRF token; without it nothing changes."""

from __future__ import annotations

import httpx

from .conftest import PASSWORD, Site, csrf_from, login


async def logged_in(client: httpx.AsyncClient, username: str = "cert-clerk") -> str:
    """Log in and return the CSRF token the dashboard page hands out."""
    await login(client, username)
    page = await client.get("/staff/certificates/")
    assert page.status_code == 200
    return csrf_from(page.text)


async def test_form_without_token_is_refused_and_changes_nothing(site: Site) -> None:
    async with site.client() as client:
        await logged_in(client)
        response = await client.post("/staff/certificates/notes", data={"note": "hello"})
        assert response.status_code == 403
        assert "再読み込み" in response.text
    assert await site.notes() == []


async def test_form_with_a_wrong_token_is_refused(site: Site) -> None:
    async with site.client() as client:
        token = await logged_in(client)
        for bad in ("0" * 64, token[:-1] + ("0" if token[-1] != "0" else "1"), ""):
            response = await client.post(
                "/staff/certificates/notes", data={"note": "hello", "csrf_token": bad}
            )
            assert response.status_code == 403
    assert await site.notes() == []


async def test_token_of_another_session_is_refused(site: Site) -> None:
    async with site.client() as first:
        old_token = await logged_in(first)
    async with site.client() as second:
        await logged_in(second)
        response = await second.post(
            "/staff/certificates/notes", data={"note": "hello", "csrf_token": old_token}
        )
        assert response.status_code == 403
    assert await site.notes() == []


async def test_form_and_header_with_the_right_token_work(site: Site) -> None:
    async with site.client() as client:
        token = await logged_in(client)
        form = await client.post("/staff/certificates/notes", data={"note": "by form", "csrf_token": token})
        assert form.status_code == 204
        htmx = await client.post(
            "/staff/certificates/notes",
            data={"note": "by htmx"},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert htmx.status_code == 204
        assert await site.notes() == ["by form", "by htmx"]
        refused = await client.delete("/staff/certificates/api/notes")
        assert refused.status_code == 403
        assert refused.json()["detail"]
        assert await site.notes() == ["by form", "by htmx"]
        deleted = await client.delete("/staff/certificates/api/notes", headers={"X-CSRF-Token": token})
        assert deleted.json() == {"deleted": 2}


async def test_login_form_itself_needs_its_token(site: Site) -> None:
    async with site.client() as client:
        response = await client.post("/staff/login", data={"username": "cert-clerk", "password": PASSWORD})
        assert response.status_code == 403
        assert "cityhall_staff=" not in response.headers.get("set-cookie", "")
        assert "cityhall_csrf" in client.cookies  # the refusal page's own form is bound to it
        # A token from a page handed to someone else (another pre-login cookie) does not work.
        async with site.client() as other:
            foreign = csrf_from((await other.get("/staff/login")).text)
        response = await client.post(
            "/staff/login", data={"username": "cert-clerk", "password": PASSWORD, "csrf_token": foreign}
        )
        assert response.status_code == 403


async def test_logout_needs_the_token(site: Site) -> None:
    async with site.client() as client:
        await logged_in(client)
        assert (await client.post("/staff/logout")).status_code == 403
        assert (await client.get("/staff/certificates/")).status_code == 200


async def test_signed_in_helper_gives_a_working_cookie_and_token(site: Site) -> None:
    from cityhall.web import StaffAuth, StaffUser

    cookie, token = StaffAuth(site.config).signed_in(
        StaffUser("cert-clerk", "市川", frozenset({"certificates"}))
    )
    async with site.client() as client:
        response = await client.post(
            "/staff/certificates/notes",
            data={"note": "from a test", "csrf_token": token},
            headers={"Cookie": f"cityhall_staff={cookie}"},
        )
        assert response.status_code == 204
    assert await site.notes() == ["from a test"]
