"""Test support for staff pages: a clerk's browser on a composed system (only tests import this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cityhall.web.auth import SESSION_COOKIE, StaffAuth, StaffUser
from cityhall.web.config import WebConfig

if TYPE_CHECKING:
    import httpx

    from cityhall.runtime.testing import Composed


def clerk(composed: Composed, service: str, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
    """A browser signed in as `user` to `service`'s pages (the service's own session secret) and
    its CSRF token; the client is closed with the system."""
    context = composed.service(service).context
    token, csrf = StaffAuth(WebConfig.from_context(context)).signed_in(user)
    client = composed.http()
    client.cookies.set(SESSION_COOKIE, token)
    return client, csrf
