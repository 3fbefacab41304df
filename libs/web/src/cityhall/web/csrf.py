"""CSRF protection: a token bound to the session, sent back with every state-changing request.

The token is an HMAC (keyed by the session secret) of the session id, so it changes with
every login and cannot be made without the secret. Before login (the login form itself)
it is bound instead to a random `cityhall_csrf` cookie (the double-submit pattern).

Pages get it from the template global `csrf_token()`: forms put it in a hidden input named
`csrf_token`; the base layout puts it in `hx-headers`, so every htmx request sends it as
`X-CSRF-Token`. `csrf_protect` checks it on POST, PUT, PATCH and DELETE (403 when missing
or wrong, before the handler runs). Requests authenticated by a bearer token are exempt:
browsers never attach those by themselves.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from cityhall.runtime.http import ResponseStartHook
from cityhall.web.auth import is_https, login_required, staff_auth

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_COOKIE = "cityhall_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_MESSAGE = "フォームの有効期限が切れたか、不正な送信です。ページを再読み込みしてもう一度お試しください。"


def _binding(request: Request, *, create: bool) -> str | None:
    session = getattr(request.state, "cityhall_session", None)
    if session is None:
        auth = staff_auth(request)
        token = request.cookies.get(auth.config.cookie_name)
        session = auth.sessions.read(token) if token else None
    if session is not None:
        return f"session:{session.sid}"
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "cityhall_csrf_nonce", None)
    if nonce is None and create:
        nonce = secrets.token_urlsafe(24)
        request.state.cityhall_csrf_nonce = nonce  # CsrfCookieMiddleware sets the cookie
    return f"anonymous:{nonce}" if nonce else None


def csrf_token(request: Request) -> str:
    """The token this page's forms and htmx requests must send back."""
    binding = _binding(request, create=True)
    assert binding is not None
    return staff_auth(request).sign(binding)


async def csrf_protect(request: Request) -> None:
    """Dependency: 403 unless an unsafe request carries this session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    auth = staff_auth(request)
    await auth.authenticate(request)
    if getattr(request.state, "cityhall_bearer", False):
        if request.state.cityhall_user is None:
            raise login_required(request)  # a bad bearer token is a login problem, not a CSRF one
        return
    supplied = request.headers.get(CSRF_HEADER)
    if not supplied:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # cached by Starlette: the endpoint reads it again for free
            value = form.get(CSRF_FIELD)
            supplied = value if isinstance(value, str) else None
    binding = _binding(request, create=False)
    if not supplied or binding is None or not hmac.compare_digest(supplied, auth.sign(binding)):
        raise HTTPException(403, CSRF_MESSAGE)


class CsrfCookieMiddleware(ResponseStartHook):
    """Sets the pre-login `cityhall_csrf` cookie when a page handed out a token bound to it."""

    def on_start(self, scope: Scope, headers: MutableHeaders) -> None:
        nonce = scope.get("state", {}).get("cityhall_csrf_nonce")
        if nonce:
            request = Request(scope)
            auth = staff_auth(request)
            cookie = f"{CSRF_COOKIE}={nonce}; Path={auth.config.cookie_path}; HttpOnly; SameSite=Lax"
            if is_https(request, auth.config):
                cookie += "; Secure"
            headers.append("set-cookie", cookie)
