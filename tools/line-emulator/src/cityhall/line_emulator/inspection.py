"""The inspection API under /_inspect: not LINE's, for tests and the resident simulator.

It plays the residents' side: who exists (profiles), who blocked the account, which reply
tokens a webhook handed out, which photos residents sent; and it shows what the
account delivered, as a list or live as Server-Sent Events. No authentication.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.datastructures import UploadFile

from cityhall.line_emulator.errors import bad_request
from cityhall.line_emulator.spec import ErrorDetail
from cityhall.line_emulator.state import Emulator

KEEPALIVE_SECONDS = 10.0
MAX_CONTENT_BYTES = 16 * 1024 * 1024
"""An uploaded resident photo (the simulator allows 10 MB) with its multipart framing."""


def inspect_router(emulator: Emulator) -> APIRouter:
    state, spec = emulator.state, emulator.spec
    router = APIRouter(prefix="/_inspect", tags=["inspect"])

    async def json_object(request: Request) -> dict[str, Any]:
        try:
            parsed = json.loads(await request.body())
        except ValueError as exc:
            raise bad_request([ErrorDetail(f"The request body is not valid JSON: {exc}", "")]) from exc
        if not isinstance(parsed, dict):
            raise bad_request([ErrorDetail("Must be of type object", "")])
        return parsed

    @router.get("/messages", name="inspect-messages")
    async def messages(to: str | None = None) -> JSONResponse:
        return JSONResponse({"messages": state.messages(to)})

    @router.get("/stream", name="inspect-stream")
    async def stream(to: str | None = None) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            subscription = state.subscribe(to)
            try:
                # Sent once subscribed: a reader that sees it will not miss what follows.
                yield ": connected\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"  # also how a closed connection gets noticed
                        continue
                    yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n"
            finally:
                state.unsubscribe(subscription)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    @router.post("/content", name="inspect-content", max_body_size=MAX_CONTENT_BYTES)
    async def add_content(request: Request, messageId: str | None = None) -> JSONResponse:
        """A multipart `file` field, or the raw body with its Content-Type."""
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise bad_request([ErrorDetail("Must be specified", "file")])
            data = await upload.read()
            content_type = upload.content_type or "application/octet-stream"
        else:
            data = await request.body()
            content_type = content_type or "application/octet-stream"
        return JSONResponse({"messageId": state.add_content(content_type, data, messageId)})

    @router.get("/users", name="inspect-users")
    async def users() -> JSONResponse:
        return JSONResponse({"users": state.users()})

    @router.post("/users", name="inspect-add-user")
    async def add_user(request: Request) -> JSONResponse:
        profile = await json_object(request)
        # A profile is what GET /v2/bot/profile returns, so the spec's response schema applies.
        errors = spec.validate("UserProfileResponse", profile)
        if errors:
            raise bad_request(errors)
        state.add_user(profile)
        return JSONResponse(profile)

    @router.post("/users/{userId}/block", name="inspect-block")
    async def block(userId: str) -> JSONResponse:
        state.set_blocked(userId, True)
        return JSONResponse({"userId": userId, "blocked": True})

    @router.post("/users/{userId}/unblock", name="inspect-unblock")
    async def unblock(userId: str) -> JSONResponse:
        state.set_blocked(userId, False)
        return JSONResponse({"userId": userId, "blocked": False})

    @router.post("/reply-tokens", name="inspect-reply-token")
    async def add_reply_token(request: Request) -> JSONResponse:
        parsed = await json_object(request)
        user_id = parsed.get("userId")
        token = parsed.get("replyToken") or secrets.token_hex(16)
        if not isinstance(user_id, str) or not user_id or not isinstance(token, str):
            raise bad_request([ErrorDetail("Must be specified", "userId")])
        ttl = state.add_reply_token(token, user_id)
        return JSONResponse({"replyToken": token, "userId": user_id, "expiresIn": ttl})

    @router.get("/richmenu", name="inspect-richmenu")
    async def rich_menu(userId: str, request: Request) -> JSONResponse:
        menu, source = state.applied_rich_menu(userId)
        # Built from root_path, not url_for: under the embedded run's root router the route
        # names of a mounted app are not resolvable.
        base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
        image_url = f"{base}/_inspect/richmenu/{menu['richMenuId']}/image"
        return JSONResponse({"richMenu": menu, "source": source, "imageUrl": image_url})

    @router.get("/richmenu/{richMenuId}/image", name="inspect-richmenu-image")
    async def rich_menu_image(richMenuId: str) -> Response:
        content_type, data = state.rich_menu_image(richMenuId)
        return Response(data, media_type=content_type)

    @router.get("/stats", name="inspect-stats")
    async def stats() -> JSONResponse:
        return JSONResponse(state.stats())

    @router.post("/reset", name="inspect-reset")
    async def reset() -> JSONResponse:
        emulator.reset()
        return JSONResponse({})

    return router
