"""The provider's notices about bulky-waste fees (no staff login: the signature is the credential)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cityhall.payment_protocol import MAX_NOTICE_BYTES, SIGNATURE_HEADER
from cityhall.reservations.bulky.handlers import Pickups


def router(pickups: Pickups) -> APIRouter:
    routes = APIRouter()

    # The bound is checked as the bytes arrive (413 past it), so a huge body is never held.
    @routes.post("/payments/callback", include_in_schema=False, max_body_size=MAX_NOTICE_BYTES)
    async def payment_callback(request: Request) -> Response:
        result = await pickups.callback(await request.body(), request.headers.get(SIGNATURE_HEADER))
        return JSONResponse({"detail": result.message}, status_code=result.status)

    return routes
