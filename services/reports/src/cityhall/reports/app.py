"""Composition root of reports (通報; its `ServiceSpec` is in spec.py): the resident's dialog on
`intents.reports` (photos downloaded before the transaction), the `reports_reports` read model,
the departments' dashboard, the requests Open311 clients posted to reports-public
(`events.open311`), the outbox relay. The embedded run's development profile makes an Open311
key once and keeps it in `<data dir>/open311-api-key`."""

from __future__ import annotations

from cityhall.line.content import Downloader, line_content
from cityhall.line.contracts import intents_topic
from cityhall.reports import projections
from cityhall.reports.api import create_app
from cityhall.reports.handlers import Reports
from cityhall.reports.spec import MOUNT
from cityhall.runtime.service import Consumer, Running, ServiceContext
from cityhall.web import LiveUpdates, StaffAuth, WebConfig


async def build(ctx: ServiceContext, content: Downloader | None = None) -> Running:
    pool = ctx.require_pool()
    reports = Reports(
        pool,
        ctx.require_store(),
        content or line_content(ctx.settings, "reports"),
        public_url=ctx.settings.public_url,
    )
    live = LiveUpdates(pool, projections=[projections.TABLE])
    banner = [f"  Reports (通報)     : {ctx.settings.public_url}{MOUNT}/  (roles roads, parks, environment)"]
    if ctx.mode == "embedded" and ctx.settings.profile == "development":
        path = ctx.settings.data_dir / "open311-api-key"
        key = await reports.development_key(path)
        banner.append(f"  Open311 API key    : {key}  (kept in {path})")
    return Running(
        app=create_app(reports, StaffAuth(WebConfig.from_context(ctx)), live),
        consumers=[
            Consumer(
                "reports-intents",
                (intents_topic("reports"),),
                reports.on_intent,
                prepare=reports.prepare,  # photo downloads, outside the transaction
                on_dead_letter=reports.conversation.could_not_handle,  # never silence
            ),
            Consumer("reports-open311", ("events.open311",), reports.on_open311),
        ],
        projections=[
            projections.ReportsProjection(),
            projections.SubscriptionsProjection(),
            projections.KEYS_PROJECTION,
        ],
        relay="reports-relay",
        tasks=[reports.housekeeping],  # the photos of drafts never sent
        on_stop=[live.close],
        banner=banner,
    )
