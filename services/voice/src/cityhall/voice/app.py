"""Composition root of voice (市民の声; its `ServiceSpec` is in spec.py): the resident's
dialog on `intents.voice`, the `voice_opinions` read model, the dashboard, the outbox relay."""

from __future__ import annotations

from cityhall.line.contracts import intents_topic
from cityhall.runtime.service import Consumer, Running, ServiceContext
from cityhall.voice import projections
from cityhall.voice.api import create_app
from cityhall.voice.handlers import Voice
from cityhall.voice.spec import MOUNT
from cityhall.web import LiveUpdates, StaffAuth, WebConfig


async def build(ctx: ServiceContext) -> Running:
    pool = ctx.require_pool()
    voice = Voice(pool, ctx.require_store())
    live = LiveUpdates(pool, projections=[projections.TABLE])
    return Running(
        app=create_app(voice, StaffAuth(WebConfig.from_context(ctx)), live),
        consumers=[
            Consumer(
                "voice-intents",
                (intents_topic("voice"),),
                voice.on_intent,
                on_dead_letter=voice.conversation.could_not_handle,  # never silence
            )
        ],
        projections=[projections.OpinionsProjection()],
        relay="voice-relay",
        on_stop=[live.close],
        banner=[f"  Voice (opinions)   : {ctx.settings.public_url}{MOUNT}/  (role voice)"],
    )
