"""Composition root of voice (市民の声; its `ServiceSpec` is in spec.py): the resident's
dialog on `intents.voice`, the `voice_opinions` read model, the dashboard, the outbox relay."""

from cityhall.runtime.intents import intents_consumer
from cityhall.runtime.service import Running, ServiceContext
from cityhall.voice.api import create_app
from cityhall.voice.handlers import Voice
from cityhall.voice.projections import OPINIONS
from cityhall.voice.spec import MOUNT
from cityhall.web import staff_app


async def build(ctx: ServiceContext) -> Running:
    voice = Voice(ctx.require_pool(), ctx.require_store())
    staff = staff_app(ctx, "voice", projections=[OPINIONS])
    return Running(
        app=create_app(voice, staff),
        consumers=[intents_consumer("voice", voice.conversation.handler(voice.respond), voice.conversation)],
        projections=[OPINIONS],
        relay="voice-relay",
        on_stop=[staff.live.close],
        banner=[f"  Voice (opinions)   : {ctx.settings.public_url}{MOUNT}/  (role voice)"],
    )
