"""Routes: the page at `/`, its files under `/sim/static/`, its API under `/sim/api/`.

The simulator joins the root of the embedded run (beside the gateway's /callback), so
every path but `/` lives under `/sim/`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from cityhall.line.render import RENDERER_DIR
from cityhall.simulator.actions import Action, Outcome, Refused, Simulator
from cityhall.simulator.emulator import EmulatorError
from cityhall.simulator.residents import MAX_DISPLAY_NAME, Resident
from cityhall.simulator.stickers import stickers_json
from cityhall.simulator.town import town_json

STATIC_DIR = Path(str(files("cityhall.simulator") / "static"))
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024
NO_CACHE = {"cache-control": "no-cache"}


class NewResident(BaseModel):
    displayName: str = Field(min_length=1, max_length=MAX_DISPLAY_NAME)


def create_api(simulator: Simulator) -> FastAPI:
    app = FastAPI(title="Resident simulator", docs_url=None, redoc_url=None, openapi_url=None)
    api = APIRouter(prefix="/sim/api")
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    def resident_or_404(user_id: str) -> Resident:
        resident = simulator.residents.get(user_id)
        if resident is None:
            raise HTTPException(404, f"住民 {user_id} は登録されていません。")
        return resident

    def emulator_failed(exc: EmulatorError) -> HTTPException:
        return HTTPException(502, f"LINE エミュレーターとの通信に失敗しました: {exc}")

    def outcome(result: Outcome) -> JSONResponse:
        # 502 when the gateway did not take the webhook: the page shows LINE's side failed.
        return JSONResponse({"item": result.item}, status_code=200 if result.delivered else 502)

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index_html, headers=NO_CACHE)

    @api.get("/config")
    async def config() -> dict[str, Any]:
        return {
            "accountName": simulator.config.account_name,
            "callbackUrl": simulator.config.callback_url,
            "lineApiUrl": simulator.config.line_api_url,
        }

    @api.get("/town")
    async def town() -> dict[str, Any]:
        return town_json()

    @api.get("/stickers")
    async def stickers() -> dict[str, Any]:
        return stickers_json()

    @api.get("/residents")
    async def residents() -> dict[str, Any]:
        return {"residents": [r.as_json() for r in simulator.residents.all()]}

    @api.post("/residents", status_code=201)
    async def create_resident(new: NewResident) -> dict[str, Any]:
        name = new.displayName.strip()
        if not name:
            raise HTTPException(422, "表示名を入力してください。")
        try:
            resident = await simulator.create_resident(name)
        except EmulatorError as exc:
            raise emulator_failed(exc) from exc
        return resident.as_json()

    @api.get("/residents/{user_id}")
    async def resident(user_id: str) -> dict[str, Any]:
        return resident_or_404(user_id).as_json()

    @api.get("/residents/{user_id}/history")
    async def history(user_id: str) -> dict[str, Any]:
        resident = resident_or_404(user_id)
        try:
            return {"items": await simulator.history(resident)}
        except EmulatorError as exc:
            raise emulator_failed(exc) from exc

    @api.post("/residents/{user_id}/actions")
    async def act(user_id: str, action: Action = Body()) -> JSONResponse:  # noqa: B008
        resident = resident_or_404(user_id)
        try:
            return outcome(await simulator.act(resident, action))
        except Refused as exc:
            raise HTTPException(exc.status, exc.message) from exc
        except EmulatorError as exc:
            raise emulator_failed(exc) from exc

    # Room for the multipart framing: past it the body stops streaming in (413).
    @api.post("/residents/{user_id}/photos", max_body_size=MAX_PHOTO_BYTES + 64 * 1024)
    async def photo(user_id: str, file: UploadFile) -> JSONResponse:
        resident = resident_or_404(user_id)
        content_type = (file.content_type or "").split(";")[0].strip().lower()
        if content_type not in PHOTO_TYPES:
            raise HTTPException(415, "送れるのは JPEG・PNG・GIF・WebP の画像です。")
        data = await file.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise HTTPException(413, "画像は 10 MB までです。")
        if not data:
            raise HTTPException(422, "画像ファイルが空です。")
        try:
            return outcome(await simulator.send_photo(resident, data, content_type))
        except Refused as exc:
            raise HTTPException(exc.status, exc.message) from exc
        except EmulatorError as exc:
            raise emulator_failed(exc) from exc

    @api.get("/residents/{user_id}/stream")
    async def stream(user_id: str) -> StreamingResponse:
        """The emulator's live deliveries to this resident, passed through (same origin for the page)."""
        resident = resident_or_404(user_id)
        try:
            upstream = await simulator.emulator.stream(resident.user_id)
            # The emulator's first chunk (": connected") comes once it has subscribed us: only
            # then does the page see the stream open and load the history, so nothing falls
            # between the two.
            first = await asyncio.wait_for(anext(upstream, b""), timeout=10)
        except TimeoutError as exc:
            raise HTTPException(504, "LINE エミュレーターのストリームが応答しません。") from exc
        except EmulatorError as exc:
            raise emulator_failed(exc) from exc

        async def events() -> AsyncIterator[bytes]:
            yield b"retry: 2000\n\n" + first
            async for chunk in upstream:
                yield chunk

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    @api.get("/residents/{user_id}/richmenu")
    async def rich_menu(user_id: str) -> dict[str, Any]:
        resident = resident_or_404(user_id)
        try:
            menu = await simulator.emulator.rich_menu(resident.user_id)
        except EmulatorError as exc:
            raise emulator_failed(exc) from exc
        if menu is None:
            return {"richMenu": None}
        return {"richMenu": menu, "imageUrl": f"/sim/api/richmenus/{menu['richMenuId']}/image"}

    @api.get("/richmenus/{rich_menu_id}/image")
    async def rich_menu_image(rich_menu_id: str) -> Response:
        try:
            content_type, data = await simulator.emulator.rich_menu_image(rich_menu_id)
        except EmulatorError as exc:
            if exc.status == 404:
                raise HTTPException(404, "リッチメニューの画像がありません。") from exc
            raise emulator_failed(exc) from exc
        return Response(data, media_type=content_type, headers={"cache-control": "max-age=3600"})

    @api.get("/content/{message_id}")
    async def content(message_id: str) -> Response:
        """A photo a resident sent, as the emulator's content host serves it to the services."""
        if not message_id.isdigit():
            raise HTTPException(404, "メッセージ ID は数字です。")
        try:
            content_type, data = await simulator.emulator.content(message_id)
        except EmulatorError as exc:
            if exc.status == 404:
                raise HTTPException(404, "その画像はありません。") from exc
            raise emulator_failed(exc) from exc
        return Response(data, media_type=content_type, headers={"cache-control": "max-age=3600"})

    app.include_router(api)
    app.mount("/sim/static/line", StaticFiles(directory=RENDERER_DIR), name="simulator-line")
    app.mount("/sim/static", StaticFiles(directory=STATIC_DIR), name="simulator-static")
    return app
