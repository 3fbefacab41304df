"""Errors without stack traces: a plain Japanese page for browsers, JSON for APIs.

`install_error_handlers(app)` (done by `cityhall.web.install`) answers every
`HTTPException`, every validation error and every unexpected exception; the trace of an
unexpected one goes to the server log only, with an id the page shows so staff can quote it.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from cityhall.runtime.http import HttpMiddleware
from cityhall.web.negotiation import MESSAGES, wants_json
from cityhall.web.templates import kit_templates

log = logging.getLogger("cityhall.web.errors")


def message_for(status: int, detail: Any = None) -> str:
    default = MESSAGES.get(status) or MESSAGES[500 if status >= 500 else 400]
    if isinstance(detail, str) and detail:
        try:
            if detail == HTTPStatus(status).phrase:  # Starlette's English default
                return default
        except ValueError:
            pass
        return detail
    return default


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[str] | None = None,
    detail: Any = None,
) -> Response:
    """An error for this caller: JSON `{"detail": ...}` or the kit's error page."""
    if wants_json(request):
        body: dict[str, Any] = {"detail": detail if detail is not None else message}
        return JSONResponse(body, status_code=status, headers=headers)
    return kit_templates().TemplateResponse(
        request,
        "kit/error.html",
        {
            "status": status,
            "message": message,
            "errors": errors or [],
            # Whoever is signed in, if the request got that far: the header shows them and logout.
            "user": getattr(request.state, "cityhall_user", None),
        },
        status_code=status,
        headers=headers,
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if 300 <= exc.status_code < 400 and "Location" in headers:
        return Response(status_code=exc.status_code, headers=headers)
    message = message_for(exc.status_code, exc.detail)
    detail = exc.detail if not isinstance(exc.detail, str) else message
    return error_response(request, exc.status_code, message, headers=headers, detail=detail)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header", "cookie")]
    return ".".join(parts) or "入力"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [f"{_field(e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
    safe = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    status = 422 if wants_json(request) else 400
    return error_response(request, status, MESSAGES[400], errors=errors, detail=safe)


class UnexpectedErrorMiddleware(HttpMiddleware):
    """Any exception a handler lets through: logged with its trace and an incident id, answered
    with the plain 500 page (or JSON). Handled here rather than re-raised, so that the trace is
    logged once and nothing of it can reach the browser."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            incident = uuid.uuid4().hex[:12]
            log.error(
                "unhandled error %s on %s %s", incident, scope.get("method"), scope.get("path"), exc_info=exc
            )
            if started:  # a streaming response broke midway: nothing more can be said
                return
            request = Request(scope)
            response = error_response(request, 500, f"{MESSAGES[500]}（エラー番号: {incident}）")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """HTTP and validation errors as pages or JSON; anything else as a plain 500."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(UnexpectedErrorMiddleware)
