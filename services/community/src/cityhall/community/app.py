"""Composition root of community (電子回覧板; its `ServiceSpec` is in spec.py): the resident's
dialog on `intents.community`, the read models, 協働推進課's pages at /staff/community, the
officers' pages at /community, the outbox relay."""

from cityhall.community.api import create_app
from cityhall.community.handlers import Community
from cityhall.community.officers_api import create_officers_app
from cityhall.community.projections import READ_MODELS
from cityhall.community.spec import MOUNT, OFFICERS_MOUNT
from cityhall.runtime.intents import intents_consumer
from cityhall.runtime.service import Running, ServiceContext
from cityhall.web import WebConfig, staff_app


async def build(ctx: ServiceContext) -> Running:
    public = ctx.settings.public_url
    community = Community(
        ctx.require_pool(), ctx.require_store(), signin_url=f"{public}{OFFICERS_MOUNT}/signin/"
    )
    web = WebConfig.from_context(ctx)
    staff = staff_app(ctx, "community", projections=READ_MODELS, web=web)
    handler = community.conversation.handler(community.respond)
    return Running(
        app=create_app(community, staff),
        mounts={OFFICERS_MOUNT: create_officers_app(community, staff, web)},
        consumers=[intents_consumer("community", handler, community.conversation)],
        projections=READ_MODELS,
        relay="community-relay",
        on_stop=[staff.live.close],
        banner=[
            f"  Community (回覧板)  : {public}{MOUNT}/  (role kyodo)",
            f"  Community officers : {public}{OFFICERS_MOUNT}/  (sign in from LINE: type 回覧板)",
        ],
    )
