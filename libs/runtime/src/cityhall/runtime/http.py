"""What every served request passes through, whatever the service: the allowed `Host` check,
the security headers and the default request-body bound.

`System.asgi` installs all three, so a service gets them without asking:

- `HostGuard`: a request whose `Host` is not one of ours gets `400`, which closes DNS
  rebinding (a page on `evil.example` resolving to 127.0.0.1 sends `Host: evil.example`).
  It runs ahead of the plain ASGI endpoints (`Running.endpoints`) and costs a set look-up.
- `SecurityHeaders`: a Content-Security-Policy without inline script or style and with
  `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, `Referrer-Policy`, on every
  response of the FastAPI apps (the plain endpoints answer machines, not browsers).
- `DEFAULT_MAX_BODY`: the body bound of every FastAPI route, enforced by Starlette's
  `RequestBodyLimitMiddleware` as the bytes stream in (413 once over, before the body is
  held in memory). A route that takes more or should take less says so with FastAPI's own
  `max_body_size=` on the route (or the app).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY = 1024 * 1024
"""Bytes a request body may have unless its route says otherwise."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
"""No inline script or style anywhere: pages load theirs from files (setting `element.style`
from a script is not inline style and stays allowed)."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),  # frame-ancestors for browsers that predate it
    ("referrer-policy", "same-origin"),
)

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def hostname(host: str) -> str:
    """`Host` without its port, lower-case (`[::1]:8000` → `::1`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.partition(":")[0]


class HostGuard:
    """Refuses (400) HTTP and WebSocket requests whose `Host` is not in `allowed`.

    IP literals always pass: DNS rebinding needs a name, and probes and scrapers (Kubernetes,
    Prometheus) address a pod by its IP.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(hostname(h) for h in allowed)
        self._raw = {h.encode() for h in self.allowed}  # the common case: no port, no case

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._allows(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await PlainTextResponse("Bad Request: unknown host", status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allows(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"host":
                if value in self._raw:
                    return True
                host = hostname(value.decode("latin-1"))
                return host in self.allowed or _is_ip(host)
        return False  # HTTP/1.1 requires Host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HttpMiddleware:
    """ASGI middleware for HTTP requests (`handle`); anything else passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class ResponseStartHook(HttpMiddleware):
    """Middleware that edits each HTTP response's start (status and headers) in `on_start`."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.on_start(scope, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_edited)

    def on_start(self, scope: Scope, headers: MutableHeaders) -> None:
        raise NotImplementedError


class SecurityHeaders(ResponseStartHook):
    """Adds `SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def on_start(self, scope: Scope, headers: MutableHeaders) -> None:
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)


def policy_with_scripts(html: str, *sources: str) -> str:
    """`CONTENT_SECURITY_POLICY` for a page we do not write ourselves (a library's OpenAPI page):
    its inline scripts allowed by their hashes, and `sources` for scripts and styles."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    )
    extra = " ".join(sources)
    return (
        CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {extra} {hashes}")
        .replace("style-src 'self'", f"style-src 'self' {extra}")
        .replace("img-src 'self'", f"img-src 'self' {extra}")
    )
