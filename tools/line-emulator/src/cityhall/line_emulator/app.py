"""Composition root: `create_app(settings)` wires spec, state, limits and the two routers."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhall.line_emulator.api import LINE_TAG, line_api_router
from cityhall.line_emulator.errors import LineApiError
from cityhall.line_emulator.inspection import inspect_router
from cityhall.line_emulator.rules import RateLimiter
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.line_emulator.spec import ErrorDetail, json_path, load_spec
from cityhall.line_emulator.state import Emulator, EmulatorState
from cityhall.runtime.http import DEFAULT_MAX_BODY, policy_with_scripts

REQUEST_ID_HEADER = "x-line-request-id"


def create_app(settings: EmulatorSettings | None = None) -> FastAPI:
    settings = settings or EmulatorSettings.from_env()
    # Parsed here, not on the first request: a missing spec should stop start-up.
    spec = load_spec()
    state = EmulatorState(settings)
    emulator = Emulator(settings, spec, state, RateLimiter(settings.rate_limits))

    app = FastAPI(
        title="LINE Messaging API emulator",
        docs_url=None,  # served below, with a CSP that lets its scripts run
        openapi_url="/_inspect/openapi.json",
        redoc_url=None,
        max_body_size=DEFAULT_MAX_BODY,  # also when it runs alone, outside `System`
    )
    app.state.emulator = emulator

    @app.get("/_inspect/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        openapi = f"{request.scope.get('root_path', '')}/_inspect/openapi.json"
        page = get_swagger_ui_html(openapi_url=openapi, title=app.title)
        policy = policy_with_scripts(
            bytes(page.body).decode(), "https://cdn.jsdelivr.net", "https://fastapi.tiangolo.com"
        )
        page.headers["content-security-policy"] = policy
        return page

    app.include_router(line_api_router(emulator))
    app.include_router(inspect_router(emulator))
    app.add_middleware(RequestIdMiddleware, state=state)

    @app.exception_handler(LineApiError)
    async def line_error(_: Request, exc: LineApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def parameter_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Query/header parameters FastAPI checks itself (bodies go through the spec instead).
        details = [
            ErrorDetail(str(e.get("msg", "Invalid value")), json_path(list(e.get("loc", ()))[1:]))
            for e in exc.errors()
        ]
        return JSONResponse(LineApiError(400, "Invalid parameters", details).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"message": message}, status_code=exc.status_code, headers=exc.headers)

    return app


class RequestIdMiddleware:
    """Gives every request LINE's `x-line-request-id` and counts statuses per named route.

    Plain ASGI rather than `@app.middleware("http")`: it leaves the SSE stream alone and
    costs next to nothing on the hot send path.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
                route = scope.get("route")
                if route is not None and LINE_TAG in getattr(route, "tags", ()):  # not /_inspect
                    self.state.count(route.name, message["status"])
            await send(message)

        await self.app(scope, receive, send_with_id)
