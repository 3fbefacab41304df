"""Login, logout and the session cookie, through the portal as the runtime mounts it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from http.cookies import SimpleCookie
from ipaddress import ip_network

from cityhall.web.portal.accounts import ThrottlePolicy

from .conftest import PASSWORD, Site, csrf_from, login, make_site

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


async def test_failures_slow_the_account_down_but_never_lock_it_out(site: Site) -> None:
    async with site.client() as client:
        for _ in range(5):
            assert (await login(client, "cert-clerk", "guess")).status_code == 401
        throttled = await login(client, "cert-clerk")  # even the right password must wait
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "1"
        assert "1秒ほどおいてから" in throttled.text
        assert (await login(client, "cert-admin")).status_code == 303  # other accounts go on
        # An attacker who keeps guessing only makes the delay grow to its short cap...
        for _ in range(10):
            wait = await site.throttle.wait("cert-clerk", "127.0.0.1")
            assert timedelta(0) < wait <= timedelta(seconds=ThrottlePolicy().account_cap_seconds)
            site.clock.advance(wait.total_seconds())
            assert (await login(client, "cert-clerk", "guess")).status_code == 401
        assert (await login(client, "cert-clerk")).status_code == 429
        # ...and once it has passed, the right password works.
        site.clock.advance((await site.throttle.wait("cert-clerk", "127.0.0.1")).total_seconds())
        assert (await login(client, "cert-clerk")).status_code == 303
    actions = [r["action"] for r in await site.pool.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("login_failed") == 15 and actions.count("login_throttled") == 2


async def test_a_rotating_forwarded_for_from_an_untrusted_peer_does_not_reset_the_count(site: Site) -> None:
    async with site.client() as client:
        for i in range(5):
            client.headers["x-forwarded-for"] = f"198.51.100.{i}"
            assert (await login(client, "cert-clerk", "guess")).status_code == 401
        client.headers["x-forwarded-for"] = "198.51.100.99"
        assert (await login(client, "cert-clerk")).status_code == 429
    addresses = {
        r["address"] for r in await site.pool.fetch("SELECT detail->>'address' AS address FROM audit_log")
    }
    assert addresses == {"127.0.0.1"}  # the peer, not what it claimed


async def test_a_trusted_proxys_forwarded_for_names_the_client(site: Site) -> None:
    proxied = make_site(
        replace(site.config, trusted_proxies=(ip_network("127.0.0.1/32"),)), site.pool, site.accounts
    )
    async with proxied.client() as client:
        # One address guessing many accounts is slowed down where it guesses from...
        client.headers["x-forwarded-for"] = "192.0.2.1, 203.0.113.5"  # the proxy appended the last
        for i in range(10):
            assert (await login(client, f"guess-{i}", "guess")).status_code == 401
        assert (await login(client, "cert-clerk")).status_code == 429
        # ...while a clerk at another address, through the same proxy, logs in.
        client.headers["x-forwarded-for"] = "203.0.113.77"
        assert (await login(client, "cert-clerk")).status_code == 303
    rows = await site.pool.fetch("SELECT DISTINCT source FROM login_failures")
    assert [r["source"] for r in rows] == ["203.0.113.5"]


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
