"""Login, logout and the session cookie, through the portal as the runtime mounts it."""

from __future__ import annotations

from http.cookies import SimpleCookie

from cityhall.web.portal.accounts import LoginThrottle

from .conftest import PASSWORD, Site, csrf_from, login

GENERIC = "ユーザー名またはパスワードが正しくありません。"


def session_cookie(headers: list[str]) -> SimpleCookie:
    for raw in headers:
        if raw.startswith("cityhall_staff="):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(raw)
            return cookie
    raise AssertionError(f"no session cookie in {headers}")


async def test_login_success_sets_a_strict_cookie_and_returns_to_next(site: Site) -> None:
    async with site.client() as client:
        response = await login(client, "cert-clerk", next="/staff/certificates/")
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/certificates/"
        raw = response.headers.get_list("set-cookie")
        morsel = session_cookie(raw)["cityhall_staff"]
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "lax"
        assert morsel["path"] == "/staff"
        assert not morsel["secure"]
        assert 0 < int(morsel["max-age"]) <= 8 * 3600
        page = await client.get("/staff/certificates/")
        assert page.status_code == 200
        assert "証明書係 市川" in page.text


async def test_cookie_is_secure_over_https(site: Site) -> None:
    async with site.client() as client:
        # Behind a TLS-terminating proxy: the proxy says https, the hop to us is http.
        forwarded = await client.get("/staff/login", headers={"X-Forwarded-Proto": "https"})
        pre_login = SimpleCookie()
        pre_login.load(forwarded.headers["set-cookie"])
        assert pre_login["cityhall_csrf"]["secure"] is True
        response = await client.post(
            "/staff/login",
            data={"username": "cert-clerk", "password": PASSWORD, "csrf_token": csrf_from(forwarded.text)},
            headers={
                "X-Forwarded-Proto": "https",
                "Cookie": f"cityhall_csrf={pre_login['cityhall_csrf'].value}",
            },
        )
        assert response.status_code == 303
        assert session_cookie(response.headers.get_list("set-cookie"))["cityhall_staff"]["secure"] is True
    async with site.client("https://testserver") as client:
        response = await login(client, "cert-clerk")
        assert response.status_code == 303
        assert session_cookie(response.headers.get_list("set-cookie"))["cityhall_staff"]["secure"] is True


async def test_failed_login_is_generic_and_recorded(site: Site) -> None:
    async with site.client() as client:
        wrong_password = await login(client, "cert-clerk", "not the password")
        unknown_user = await login(client, "nobody-here", "not the password")
        for response in (wrong_password, unknown_user):
            assert response.status_code == 401
            assert GENERIC in response.text
            assert "cityhall_staff=" not in response.headers.get("set-cookie", "")
        # The same page apart from the echoed username: nothing tells the two apart.
        assert wrong_password.text.replace("cert-clerk", "X").count(
            "notice-error"
        ) == unknown_user.text.count("notice-error")
        assert (await client.get("/staff/")).status_code == 303
    rows = await site.pool.fetch("SELECT actor, action, subject FROM audit_log ORDER BY id")
    assert [(r["action"], r["subject"]) for r in rows] == [
        ("login_failed", "cert-clerk"),
        ("login_failed", "nobody-here"),
    ]


async def test_disabled_account_cannot_log_in(site: Site) -> None:
    assert await site.accounts.disable("cert-clerk")
    async with site.client() as client:
        response = await login(client, "cert-clerk")
        assert response.status_code == 401
        assert GENERIC in response.text


async def test_repeated_failures_are_throttled_per_user_and_address(site: Site) -> None:
    async with site.client() as client:
        for _ in range(5):
            assert (await login(client, "cert-clerk", "guess")).status_code == 401
        blocked = await login(client, "cert-clerk")  # even the right password, for now
        assert blocked.status_code == 429
        assert "しばらく" in blocked.text
        other = await login(client, "cert-admin")  # another account is not locked out
        assert other.status_code == 303


async def test_logout_clears_the_cookie(site: Site) -> None:
    async with site.client() as client:
        await login(client, "cert-clerk")
        portal = await client.get("/staff/")
        assert portal.status_code == 200
        response = await client.post("/staff/logout", data={"csrf_token": csrf_from(portal.text)})
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/login?logged_out=1"
        cleared = session_cookie(response.headers.get_list("set-cookie"))["cityhall_staff"]
        assert cleared.value in ("", '""')
        assert cleared["path"] == "/staff"
        assert (await client.get("/staff/certificates/")).status_code == 303
        page = await client.get("/staff/login?logged_out=1")
        assert "ログアウトしました" in page.text
    actions = [r["action"] for r in await site.pool.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["login", "logout"]


async def test_login_does_not_redirect_to_another_site(site: Site) -> None:
    async with site.client() as client:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            response = await login(client, "cert-clerk", next=target)
            assert response.status_code == 303
            assert response.headers["location"] == "/staff/"


def test_throttle_window_and_memory_bound() -> None:
    throttle = LoginThrottle(limit=2, window=900, max_keys=3)
    throttle.failed("a", "1.1.1.1")
    assert not throttle.blocked("A", "1.1.1.1")
    throttle.failed("A", "1.1.1.1")
    assert throttle.blocked("a", "1.1.1.1")  # usernames are case-insensitive
    assert not throttle.blocked("a", "2.2.2.2")
    throttle.succeeded("a", "1.1.1.1")
    assert not throttle.blocked("a", "1.1.1.1")
    for i in range(10):
        throttle.failed(f"user{i}", "3.3.3.3")
    assert len(throttle._failures) <= 3
    expired = LoginThrottle(limit=1, window=0.0)
    expired.failed("a", "1.1.1.1")
    assert not expired.blocked("a", "1.1.1.1")
