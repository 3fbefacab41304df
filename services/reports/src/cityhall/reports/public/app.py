"""Composition root of reports-public: the consumer of `events.reports` that keeps
`public_reports` (public fields only) and the Open311 keys' hashes, `/reports/map` with
`/reports/map.json`, Open311 GeoReport v2 at `/open311/v2/` (open311_api.py), and the relay
that takes posted requests to reports."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import Field

from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData
from cityhall.line.japanese import date_ja
from cityhall.reports import townmap
from cityhall.reports.categories import CATEGORIES
from cityhall.reports.domain import STATUSES, status_after
from cityhall.reports.events import (
    Open311KeyIssued,
    Open311KeyRevoked,
    Open311WriterForgotten,
    ReportFiled,
    ReportMoved,
    ReportPhotoPublished,
    ReportResolved,
)
from cityhall.reports.public import open311_api
from cityhall.reports.spec import MOUNT
from cityhall.runtime.env import EnvSettings
from cityhall.runtime.http import CONTENT_SECURITY_POLICY
from cityhall.runtime.service import Consumer, Running, ServiceContext
from cityhall.town import Point, contains, district

HERE = Path(__file__).parent
SHOWN = ("accepted", "in_progress", "resolved")
"""Moderated: staff accepted the report (and maybe worked it). Nothing else is public."""


class PublicEnv(EnvSettings):
    tile_url: str = Field("", alias="CITYHALL_MAP_TILE_URL")
    """e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; unset: the map is the town's outline only."""


async def on_event(personal: PersonalData, envelope: Envelope, conn: Connection) -> None:
    """Keep `public_reports` from a report's events (idempotent: the consumer's inbox dedupes)."""
    if not envelope.type.startswith("cityhall.reports."):
        return
    event = envelope.event()
    if isinstance(event, ReportFiled):
        await conn.execute(
            """INSERT INTO public_reports (report_id, number, category, district, department, latitude, longitude,
                   status, filed_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8) ON CONFLICT (report_id) DO NOTHING""",
            event.report_id, event.number, event.category, event.district, event.department, event.latitude,
            event.longitude, event.at,
        )  # fmt: skip
        return
    if isinstance(event, Open311KeyIssued):
        await conn.execute(
            "INSERT INTO open311_keys (key_hash, key_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            event.key_hash,
            event.key_id,
        )
        return
    if isinstance(event, Open311KeyRevoked):
        await conn.execute("UPDATE open311_keys SET revoked = true WHERE key_id = $1", event.key_id)
        return
    if isinstance(event, Open311WriterForgotten):
        await personal.forget(f"open311-{event.report_id}", conn=conn)
        await conn.execute("DELETE FROM open311_contacts WHERE report_id = $1", event.report_id)
        return
    if isinstance(event, ReportPhotoPublished):
        await _photo(conn, event.public_id, event.report_id, "published")
        return
    if isinstance(event, ReportResolved) and event.after_photo is not None:
        await _photo(conn, event.after_photo, event.report_id, "after")
    if isinstance(event, ReportMoved):
        await conn.execute(
            "UPDATE public_reports SET department = $2 WHERE report_id = $1",
            event.report_id,
            event.department,
        )
        return
    status = status_after(event)
    report_id = getattr(event, "report_id", None)
    if status is not None and report_id is not None:
        await conn.execute(
            "UPDATE public_reports SET status = $2, updated_at = $3 WHERE report_id = $1",
            report_id,
            status,
            envelope.time,
        )


async def _photo(conn: Connection, public_id: uuid.UUID, report_id: uuid.UUID, kind: str) -> None:
    await conn.execute(
        "INSERT INTO public_photos (public_id, report_id, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        public_id,
        report_id,
        kind,
    )


async def shown(pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """SELECT r.number, r.category, r.district, r.latitude, r.longitude, r.status, r.filed_at, r.updated_at,
                  coalesce(array_agg(p.public_id ORDER BY p.kind DESC) FILTER (WHERE p.public_id IS NOT NULL),
                           '{}') AS photos
           FROM public_reports r LEFT JOIN public_photos p USING (report_id)
           WHERE r.status = ANY($1) GROUP BY r.report_id ORDER BY r.filed_at DESC LIMIT 2000""",
        list(SHOWN),
    )
    out = []
    for r in rows:
        x, y = townmap.to_svg(r["latitude"], r["longitude"])
        found = district(r["district"])
        out.append(
            dict(r)
            | {
                "x": x,
                "y": y,
                "category_name": CATEGORIES[r["category"]].name,
                "status_name": STATUSES[r["status"]],
                "district_name": found.name if found else "",
                "filed": date_ja(r["filed_at"]),
                "photo_urls": [f"{MOUNT}/public-photos/{p}.jpg" for p in r["photos"]],
            }
        )
    return out


def create_app(pool: Pool, tile_url: str = "") -> FastAPI:
    app = FastAPI(title="reports-public", docs_url=None, redoc_url=None, openapi_url=None)
    # Its own page, and the town's SVG map the staff pages draw too (reports/_map.html).
    folders = [HERE / "templates", HERE.parent / "templates"]
    templates = Jinja2Templates(
        env=Environment(loader=FileSystemLoader(folders), autoescape=select_autoescape(default=True))
    )
    tiles = townmap.tiles(tile_url) if tile_url else []
    policy = (
        CONTENT_SECURITY_POLICY.replace("img-src 'self'", f"img-src 'self' {townmap.tile_origin(tile_url)}")
        if tile_url
        else CONTENT_SECURITY_POLICY
    )
    app.mount("/reports/static", StaticFiles(directory=HERE / "static"), name="reports-public-static")

    @app.get("/reports/map", include_in_schema=False, response_class=HTMLResponse)
    async def page(request: Request) -> Response:
        reports = await shown(pool)
        context = {
            "reports": reports,
            "pins": [
                {"x": r["x"], "y": r["y"], "label": f"{r['category_name']}（{r['status_name']}）"}
                for r in reports
            ],
            "town_map": townmap.shapes(),
            "tiles": tiles,
            "map_label": "ポケット市の通報の地図",
            "statuses": {k: STATUSES[k] for k in SHOWN},
        }
        return templates.TemplateResponse(
            request, "public/map.html", context, headers={"content-security-policy": policy}
        )

    @app.get("/reports/static-map.png", include_in_schema=False)
    async def static_map(lat: float, lng: float) -> Response:
        """The small map of a point for LINE's summary: a point in town only."""
        point = Point(lat, lng)
        if not contains(point):
            raise HTTPException(404, "その場所はポケット市の区域外です。")
        return Response(
            await asyncio.to_thread(townmap.png, point),
            media_type="image/png",
            headers={"cache-control": "public, max-age=86400"},
        )

    @app.get("/reports/map.json", include_in_schema=False)
    async def features() -> Response:
        reports = await shown(pool)
        return JSONResponse(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]},
                        "properties": {
                            "number": r["number"],
                            "category": r["category_name"],
                            "status": r["status_name"],
                            "district": r["district_name"],
                            "filed": r["filed_at"].isoformat(),
                        },
                    }
                    for r in reports
                ],
            }
        )

    return app


async def build(ctx: ServiceContext) -> Running:
    pool = ctx.require_pool()
    env = PublicEnv.read()
    app = create_app(pool, env.tile_url)
    open311_api.install(app, pool, ctx.require_store())
    return Running(
        app=app,
        consumers=[
            Consumer(
                "reports-public-events",
                ("events.reports",),
                partial(on_event, PersonalData(pool)),
                batched=True,
            )
        ],
        relay="reports-public-relay",  # the posted Open311 requests, to reports (events.open311)
        banner=[
            f"  Reports map        : {ctx.settings.public_url}/reports/map  (public)",
            f"  Open311 GeoReport  : {ctx.settings.public_url}{open311_api.PREFIX}/services.json",
        ],
    )
