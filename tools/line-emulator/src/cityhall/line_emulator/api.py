"""LINE's Messaging API routes, as messaging-api.yml names them.

Every route: bearer token (401), then its rate limit if it has one (429, keyed by the
route's name), then the body against the spec's schema plus LINE's extra rules (400).
Route names are the keys of rate limits and of /_inspect/stats.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from cityhall.line_emulator.errors import LineApiError, bad_request
from cityhall.line_emulator.rules import (
    AUTH_MESSAGE,
    RATE_LIMIT_MESSAGE,
    RICH_MENU_IMAGE_MAX_BYTES,
    message_errors,
    retry_key_is_valid,
    rich_menu_errors,
    rich_menu_image_error,
)
from cityhall.line_emulator.spec import ErrorDetail
from cityhall.line_emulator.state import Emulator

LINE_TAG = "line"
BOT_INFO = {
    "userId": "U00000000000000000000000000000b07",  # U + 32 hex, as LINE ids are
    "basicId": "@cityhall",
    "displayName": "Pocket City Hall (emulator)",
    "chatMode": "bot",
    "markAsReadMode": "auto",
}
RetryKey = Annotated[str | None, Header(alias="X-Line-Retry-Key")]


def request_id(request: Request) -> str:
    """Set by RequestIdMiddleware; the same value goes out in `x-line-request-id`."""
    return str(request.state.request_id)


def line_api_router(emulator: Emulator) -> APIRouter:
    state, spec = emulator.state, emulator.spec

    # Dependencies are `async` so FastAPI runs them inline, not in its thread pool.
    async def authenticate(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not emulator.settings.accepts(token.strip()):
            raise LineApiError(401, AUTH_MESSAGE)

    async def rate_limit(request: Request) -> None:
        if not emulator.limiter.allow(request.scope["route"].name):
            raise LineApiError(429, RATE_LIMIT_MESSAGE)

    router = APIRouter(tags=[LINE_TAG], dependencies=[Depends(authenticate), Depends(rate_limit)])

    async def body(
        request: Request, schema: str, *rules: Callable[[Any], Sequence[ErrorDetail]]
    ) -> dict[str, Any]:
        """The JSON body, valid against `components.schemas[schema]` and the given rules."""
        try:
            parsed = json.loads(await request.body())
        except ValueError as exc:
            raise bad_request([ErrorDetail(f"The request body is not valid JSON: {exc}", "")]) from exc
        errors = spec.validate(schema, parsed)
        if not errors:
            errors = [e for rule in rules for e in rule(parsed)]
        if errors:
            raise bad_request(errors)
        return dict(parsed)

    def check_retry_key(key: str | None) -> None:
        if key is not None and not retry_key_is_valid(key):
            raise bad_request([ErrorDetail("Must be a UUID in hexadecimal format", "X-Line-Retry-Key")])

    def messages_rule(parsed: dict[str, Any]) -> list[ErrorDetail]:
        return message_errors(parsed["messages"])

    def ok(content: Any = None, status: int = 200) -> JSONResponse:
        return JSONResponse({} if content is None else content, status_code=status)

    # --- sending -------------------------------------------------------------------------

    @router.post("/v2/bot/message/reply", name="reply")
    async def reply(request: Request) -> JSONResponse:
        parsed = await body(request, "ReplyMessageRequest", messages_rule)
        delivery = state.reply(parsed["replyToken"], parsed["messages"], request_id(request))
        return ok({"sentMessages": list(delivery.sent)})

    @router.post("/v2/bot/message/push", name="push")
    async def push(request: Request, retry_key: RetryKey = None) -> JSONResponse:
        check_retry_key(retry_key)
        parsed = await body(request, "PushMessageRequest", messages_rule)
        delivery = state.send("push", [parsed["to"]], parsed["messages"], request_id(request), retry_key)
        return ok({"sentMessages": list(delivery.sent)})

    @router.post("/v2/bot/message/multicast", name="multicast")
    async def multicast(request: Request, retry_key: RetryKey = None) -> JSONResponse:
        check_retry_key(retry_key)
        parsed = await body(request, "MulticastRequest", messages_rule)
        state.send("multicast", parsed["to"], parsed["messages"], request_id(request), retry_key)
        return ok()

    @router.post("/v2/bot/message/broadcast", name="broadcast")
    async def broadcast(request: Request, retry_key: RetryKey = None) -> JSONResponse:
        check_retry_key(retry_key)
        parsed = await body(request, "BroadcastRequest", messages_rule)
        state.send("broadcast", state.friends(), parsed["messages"], request_id(request), retry_key)
        return ok()

    @router.post("/v2/bot/message/narrowcast", name="narrowcast")
    async def narrowcast(request: Request, retry_key: RetryKey = None) -> JSONResponse:
        check_retry_key(retry_key)
        parsed = await body(request, "NarrowcastRequest", messages_rule)
        # Audiences and demographic filters are not modelled: every friend matches.
        recipients = state.friends()
        limit = parsed.get("limit", {}).get("max")
        if limit is not None:
            recipients = recipients[:limit]
        delivery = state.send("narrowcast", recipients, parsed["messages"], request_id(request), retry_key)
        state.record_narrowcast(delivery)
        return ok(status=202)

    @router.get("/v2/bot/message/progress/narrowcast", name="narrowcast-progress")
    async def narrowcast_progress(requestId: str) -> JSONResponse:
        return ok(state.narrowcast_progress(requestId))

    for kind in ("reply", "push", "multicast", "narrowcast", "broadcast"):

        @router.post(f"/v2/bot/message/validate/{kind}", name=f"validate-{kind}")
        async def validate_messages(request: Request) -> JSONResponse:
            await body(request, "ValidateMessageRequest", messages_rule)
            return ok()

    # --- quota, profile, bot -------------------------------------------------------------

    @router.get("/v2/bot/message/quota", name="quota")
    async def quota() -> JSONResponse:
        limit = emulator.settings.monthly_quota
        return ok({"type": "none"} if limit is None else {"type": "limited", "value": limit})

    @router.get("/v2/bot/message/quota/consumption", name="quota-consumption")
    async def quota_consumption() -> JSONResponse:
        return ok({"totalUsage": state.usage()})

    @router.get("/v2/bot/profile/{userId}", name="profile")
    async def profile(userId: str) -> JSONResponse:
        return ok(state.profile(userId))

    @router.get("/v2/bot/info", name="bot-info")
    async def bot_info() -> JSONResponse:
        return ok(BOT_INFO)

    @router.post("/v2/bot/chat/loading/start", name="loading-start")
    async def loading_start(request: Request) -> JSONResponse:
        await body(request, "ShowLoadingAnimationRequest")
        return ok(status=202)

    # --- content residents sent (the blob host) ------------------------------------------

    @router.get("/v2/bot/message/{messageId}/content", name="content")
    async def content(messageId: str) -> Response:
        content_type, data = state.content(messageId)
        return Response(data, media_type=content_type)

    @router.get("/v2/bot/message/{messageId}/content/preview", name="content-preview")
    async def content_preview(messageId: str) -> Response:
        content_type, data = state.content(messageId)
        return Response(data, media_type=content_type)

    @router.get("/v2/bot/message/{messageId}/content/transcoding", name="content-transcoding")
    async def content_transcoding(messageId: str) -> JSONResponse:
        state.content(messageId)  # 404 when unknown
        return ok({"status": "succeeded"})

    # --- rich menus (fixed paths before the {richMenuId}/{userId} ones they would match) ----

    @router.post("/v2/bot/richmenu", name="richmenu-create")
    async def create_rich_menu(request: Request) -> JSONResponse:
        parsed = await body(request, "RichMenuRequest", rich_menu_errors)
        return ok({"richMenuId": state.create_rich_menu(parsed)})

    @router.post("/v2/bot/richmenu/validate", name="richmenu-validate")
    async def validate_rich_menu(request: Request) -> JSONResponse:
        await body(request, "RichMenuRequest", rich_menu_errors)
        return ok()

    @router.get("/v2/bot/richmenu/list", name="richmenu-list")
    async def list_rich_menus() -> JSONResponse:
        return ok({"richmenus": state.rich_menus()})

    @router.post("/v2/bot/richmenu/bulk/link", name="richmenu-bulk-link")
    async def bulk_link(request: Request) -> JSONResponse:
        parsed = await body(request, "RichMenuBulkLinkRequest")
        for user_id in parsed["userIds"]:
            state.link_rich_menu(user_id, parsed["richMenuId"])
        return ok(status=202)

    @router.post("/v2/bot/richmenu/bulk/unlink", name="richmenu-bulk-unlink")
    async def bulk_unlink(request: Request) -> JSONResponse:
        parsed = await body(request, "RichMenuBulkUnlinkRequest")
        for user_id in parsed["userIds"]:
            state.unlink_rich_menu(user_id)
        return ok(status=202)

    def batch_rule(parsed: dict[str, Any]) -> list[ErrorDetail]:
        # The schema's discriminator names the types; each type's own required fields:
        required = {"link": ("from", "to"), "unlink": ("from",), "unlinkAll": ()}
        errors = []
        for i, operation in enumerate(parsed["operations"]):
            kind = operation.get("type")
            if kind not in required:
                errors.append(
                    ErrorDetail("Must be one of link, unlink or unlinkAll", f"operations[{i}].type")
                )
                continue
            errors += [
                ErrorDetail("Must be specified", f"operations[{i}].{field}")
                for field in required[kind]
                if not isinstance(operation.get(field), str)
            ]
        if not parsed["operations"]:
            errors.append(ErrorDetail("Must not be empty", "operations"))
        return errors

    @router.post("/v2/bot/richmenu/batch", name="richmenu-batch")
    async def rich_menu_batch(request: Request) -> JSONResponse:
        parsed = await body(request, "RichMenuBatchRequest", batch_rule)
        state.rich_menu_batch(parsed["operations"], request_id(request))
        return ok(status=202)

    @router.post("/v2/bot/richmenu/validate/batch", name="richmenu-batch-validate")
    async def validate_rich_menu_batch(request: Request) -> JSONResponse:
        parsed = await body(request, "RichMenuBatchRequest", batch_rule)
        state.check_rich_menu_batch(parsed["operations"])
        return ok()

    @router.get("/v2/bot/richmenu/progress/batch", name="richmenu-batch-progress")
    async def rich_menu_batch_progress(requestId: str) -> JSONResponse:
        return ok(state.rich_menu_batch_progress(requestId))

    @router.get("/v2/bot/richmenu/{richMenuId}", name="richmenu-get")
    async def get_rich_menu(richMenuId: str) -> JSONResponse:
        return ok(state.rich_menu(richMenuId))

    @router.delete("/v2/bot/richmenu/{richMenuId}", name="richmenu-delete")
    async def delete_rich_menu(richMenuId: str) -> JSONResponse:
        state.delete_rich_menu(richMenuId)
        return ok()

    # A little over LINE's image limit, so that the limit's own message answers a large image.
    @router.post(
        "/v2/bot/richmenu/{richMenuId}/content",
        name="richmenu-image-upload",
        max_body_size=RICH_MENU_IMAGE_MAX_BYTES + 1024,
    )
    async def upload_rich_menu_image(richMenuId: str, request: Request) -> JSONResponse:
        state.rich_menu(richMenuId)  # 404 before reading the image
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        data = await request.body()
        problem = rich_menu_image_error(content_type, data)
        if problem is not None:
            raise LineApiError(415 if problem.startswith("Content-Type") else 400, problem)
        state.set_rich_menu_image(richMenuId, content_type, data)
        return ok()

    @router.get("/v2/bot/richmenu/{richMenuId}/content", name="richmenu-image-download")
    async def download_rich_menu_image(richMenuId: str) -> Response:
        content_type, data = state.rich_menu_image(richMenuId)
        return Response(data, media_type=content_type)

    @router.post("/v2/bot/user/all/richmenu/{richMenuId}", name="richmenu-default-set")
    async def set_default(richMenuId: str) -> JSONResponse:
        state.set_default_rich_menu(richMenuId)
        return ok()

    @router.get("/v2/bot/user/all/richmenu", name="richmenu-default-get")
    async def get_default() -> JSONResponse:
        return ok({"richMenuId": state.default_rich_menu_id()})

    @router.delete("/v2/bot/user/all/richmenu", name="richmenu-default-cancel")
    async def cancel_default() -> JSONResponse:
        state.set_default_rich_menu(None)
        return ok()

    @router.get("/v2/bot/user/{userId}/richmenu", name="richmenu-user-get")
    async def get_user_menu(userId: str) -> JSONResponse:
        return ok({"richMenuId": state.user_rich_menu_id(userId)})

    @router.delete("/v2/bot/user/{userId}/richmenu", name="richmenu-user-unlink")
    async def unlink_user_menu(userId: str) -> JSONResponse:
        state.unlink_rich_menu(userId)
        return ok()

    @router.post("/v2/bot/user/{userId}/richmenu/{richMenuId}", name="richmenu-user-link")
    async def link_user_menu(userId: str, richMenuId: str) -> JSONResponse:
        state.link_rich_menu(userId, richMenuId)
        return ok()

    return router
